import { api, ApiError, auth, errorMessage, hashParams, type TokenResponse } from "../api";
import { errorBox, field, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** What is wrong with the form before it is sent, in plain words (the API checks again). */
function formProblem(email: string, password: string | null): string | null {
  if (!email) return "Enter your email address.";
  if (!EMAIL.test(email)) return "Enter a valid email address, like you@example.com.";
  if (password !== null && password.length < 6) return "Password must be at least 6 characters.";
  return null;
}

export function renderAuth(ctx: Ctx, mode: "login" | "signup"): void {
  const params = hashParams();
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  email.value = params.get("email") ?? "";
  const password = h("input", {
    type: "password",
    name: "password",
    minlength: 6,
    autocomplete: mode === "signup" ? "new-password" : "current-password",
    required: true,
  });
  const name = h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 200 });
  const referral = params.get("ref") ?? "";
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "primary" }, mode === "signup" ? "Create account" : "Log in");
  const switchLink = h("a", { href: mode === "signup" ? "#/login" : "#/signup" }, mode === "signup" ? "Log in" : "Create an account");
  const footer = h("p", { class: "muted" }, mode === "signup" ? "Already registered? " : "New to Nova? ", switchLink);

  const form = h(
    "form",
    {
      class: "card narrow",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        mount(errors);
        const problem = formProblem(email.value.trim(), password.value);
        if (problem) {
          mount(errors, errorBox(problem));
          return;
        }
        submit.setAttribute("disabled", "");
        try {
          const body: Record<string, string> = { email: email.value.trim(), password: password.value };
          if (mode === "signup" && name.value.trim()) body.name = name.value.trim();
          if (mode === "signup" && referral) body.referral_code = referral;
          const res = await api<TokenResponse>("POST", mode === "signup" ? "/auth/register" : "/auth/login", body);
          auth.set(res.access_token);
          await ctx.refreshUser();
          ctx.go(mode === "signup" ? "#/deploy" : "#/calls");
        } catch (err) {
          mount(errors, errorBox(errorMessage(err)));
          if (err instanceof ApiError && err.status === 409) {
            // One way forward, with the email carried over (not a second "Log in" prompt).
            switchLink.href = `#/login?email=${encodeURIComponent(email.value.trim())}`;
            footer.firstChild!.textContent = "This email already has an account. ";
          }
        } finally {
          submit.removeAttribute("disabled");
        }
      },
    },
    h("h1", {}, mode === "signup" ? "Create your Nova account" : "Log in to Nova"),
    mode === "signup"
      ? h("p", { class: "muted" }, "Start a 7-day trial with 10 call minutes. No card required.")
      : null,
    mode === "signup" && referral ? h("p", { class: "pill" }, `Referral code ${referral} applied`) : null,
    field("Email", email),
    field("Password", password, mode === "signup" ? "At least 6 characters." : undefined),
    mode === "login" ? h("p", { class: "small" }, h("a", { href: "#/forgot" }, "Forgot password?")) : null,
    mode === "signup" ? field("Name (optional)", name) : null,
    errors,
    submit,
    footer,
  );
  mount(ctx.main, form);
  (email.value ? password : email).focus();
}

const CODE_HELP =
  "The code is valid for 10 minutes. Nothing arrived? Check your spam folder. Running Nova " +
  "yourself without a mail server (NOVA_SMTP_HOST unset)? With NOVA_ENV=development the code " +
  "is printed in the `nova serve` log, in a line marked DEVELOPMENT ONLY.";

/** A one-card form: `check` names what is wrong (or null), then `send` runs; errors in place. */
function cardForm(
  submitLabel: string,
  check: () => string | null,
  send: () => Promise<void>,
  body: (Node | null)[],
  footer: Node,
): HTMLFormElement {
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  return h("form", {
    class: "card narrow",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(errors);
      const problem = check();
      if (problem) return mount(errors, errorBox(problem));
      submit.setAttribute("disabled", "");
      try {
        await send();
      } catch (err) {
        mount(errors, errorBox(errorMessage(err)));
      } finally {
        submit.removeAttribute("disabled");
      }
    },
  }, ...body, errors, submit, footer);
}

export function renderForgot(ctx: Ctx): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  email.value = hashParams().get("email") ?? "";
  const form = cardForm(
    "Send reset code",
    () => formProblem(email.value.trim(), null),
    async () => {
      const res = await api<{ message: string }>("POST", "/auth/forgot-password", { email: email.value.trim() });
      toast(res.message);
      ctx.go(`#/reset?email=${encodeURIComponent(email.value.trim())}`);
    },
    [h("h1", {}, "Reset your password"), h("p", { class: "muted" }, "We send a 6-digit code to your email address."), field("Email", email)],
    h("p", { class: "muted" }, h("a", { href: "#/reset" }, "I already have a code"), " · ", h("a", { href: "#/login" }, "Back to log in")),
  );
  mount(ctx.main, form);
  email.focus();
}

export function renderReset(ctx: Ctx): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  email.value = hashParams().get("email") ?? "";
  const code = h("input", {
    name: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: 6,
    required: true,
  });
  const password = h("input", { type: "password", name: "new_password", autocomplete: "new-password", minlength: 6, required: true });
  const form = cardForm(
    "Set new password",
    () =>
      formProblem(email.value.trim(), password.value) ??
      (/^\d{6}$/.test(code.value.trim()) ? null : "Enter the 6-digit code from the email."),
    async () => {
      await api("POST", "/auth/reset-password", {
        email: email.value.trim(),
        code: code.value.trim(),
        new_password: password.value,
      });
      toast("Password updated. Log in with your new password.");
      ctx.go(`#/login?email=${encodeURIComponent(email.value.trim())}`);
    },
    [
      h("h1", {}, "Enter your reset code"),
      field("Email", email),
      field("6-digit code", code),
      field("New password", password, "At least 6 characters."),
      h("details", { class: "small" }, h("summary", {}, "Didn't get a code?"), h("p", {}, CODE_HELP)),
    ],
    h("p", { class: "muted" }, h("a", { href: "#/forgot" }, "Send a new code"), " · ", h("a", { href: "#/login" }, "Back to log in")),
  );
  mount(ctx.main, form);
  (email.value ? code : email).focus();
}
