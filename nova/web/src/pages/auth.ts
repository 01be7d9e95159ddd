import { api, ApiError, auth, type TokenResponse } from "../api";
import { errorBox, field, h, mount } from "../dom";
import type { Ctx } from "../main";

export function renderAuth(ctx: Ctx, mode: "login" | "signup"): void {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", {
    type: "password",
    name: "password",
    minlength: 6,
    autocomplete: mode === "signup" ? "new-password" : "current-password",
    required: true,
  });
  const name = h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 200 });
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "primary" }, mode === "signup" ? "Create account" : "Log in");

  const form = h(
    "form",
    {
      class: "card narrow",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        mount(errors);
        submit.setAttribute("disabled", "");
        try {
          const body: Record<string, string> = { email: email.value, password: password.value };
          if (mode === "signup" && name.value.trim()) body.name = name.value.trim();
          const res = await api<TokenResponse>("POST", mode === "signup" ? "/auth/register" : "/auth/login", body);
          auth.set(res.access_token);
          await ctx.refreshUser();
          ctx.go(mode === "signup" ? "#/deploy" : "#/calls");
        } catch (err) {
          const msg = err instanceof ApiError ? err.message : String(err);
          mount(errors, errorBox(msg));
          if (err instanceof ApiError && err.status === 409) {
            errors.append(h("p", {}, "Already have an account? ", h("a", { href: "#/login" }, "Log in")));
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
    field("Email", email),
    field("Password", password, mode === "signup" ? "At least 6 characters." : undefined),
    mode === "signup" ? field("Name (optional)", name) : null,
    errors,
    submit,
    h(
      "p",
      { class: "muted" },
      mode === "signup" ? "Already registered? " : "New to Nova? ",
      h("a", { href: mode === "signup" ? "#/login" : "#/signup" }, mode === "signup" ? "Log in" : "Create an account"),
    ),
  );
  mount(ctx.main, form);
  email.focus();
}
