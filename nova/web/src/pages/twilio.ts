import { api, errorMessage } from "../api";
import { errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

interface CredentialStatus {
  status: "not_configured" | "stored" | "valid" | "invalid";
  sid_last4: string | null;
  validated_at: string | null;
}

interface Available {
  sid: string;
  phone_number: string;
  friendly_name: string | null;
  capabilities: Record<string, boolean>;
  imported: boolean;
}

interface NumberOut {
  id: string;
  phone_number: string;
  status: "pending_verification" | "active";
  is_default: boolean;
  verified_at: string | null;
}

const STATUS_TEXT: Record<CredentialStatus["status"], string> = {
  not_configured: "No credentials saved.",
  stored: "Saved, not checked yet.",
  valid: "Checked with Twilio: they work.",
  invalid: "Twilio refused them. Save new ones.",
};

export async function renderTwilio(ctx: Ctx): Promise<void> {
  const credBox = h("section", { class: "card" }, h("h1", {}, "Your Twilio numbers"), h("p", { class: "muted" }, "Loading…"));
  const availableBox = h("section", { class: "card" });
  const numbersBox = h("section", { class: "card" });
  mount(ctx.main, credBox, availableBox, numbersBox);

  async function load(): Promise<void> {
    try {
      const cred = await api<CredentialStatus>("GET", "/twilio/credentials");
      renderCredentials(cred);
      await Promise.all([cred.status === "not_configured" ? mount(availableBox) : loadAvailable(), loadNumbers()]);
    } catch (err) {
      mount(credBox, h("h1", {}, "Your Twilio numbers"), errorBox(errorMessage(err)));
    }
  }

  function renderCredentials(cred: CredentialStatus): void {
    const accountSid = h("input", { name: "account_sid", autocomplete: "off", spellcheck: "false", placeholder: "AC…" });
    const keySid = h("input", { name: "api_key_sid", autocomplete: "off", spellcheck: "false", placeholder: "SK…" });
    const keySecret = h("input", { type: "password", name: "api_key_secret", autocomplete: "off" });
    const errors = h("div", { "aria-live": "assertive" });
    const saved = cred.status !== "not_configured";
    mount(credBox, h("h1", {}, "Your Twilio numbers"),
      h("p", { class: "muted" }, "Call leads from your own Twilio numbers. Nova stores an API key encrypted and only ever shows the last 4 characters of your Account SID."),
      h("p", { id: "credential-status" }, h("span", { class: `status s-${cred.status === "valid" ? "completed" : cred.status === "invalid" ? "failed" : "pending"}` }, cred.status.replace("_", " ")),
        " ", STATUS_TEXT[cred.status], cred.sid_last4 ? ` Account SID …${cred.sid_last4}.` : ""),
      saved ? h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: async () => {
          mount(errors);
          try {
            const v = await api<CredentialStatus & { valid: boolean; detail: string | null }>("POST", "/twilio/credentials/validate");
            toast(v.valid ? "Twilio accepted the credentials." : `Twilio refused them${v.detail ? `: ${v.detail}` : "."}`);
          } catch (err) {
            mount(errors, errorBox(errorMessage(err)));
            return;
          }
          await load();
        } }, "Check with Twilio"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm("Remove the credentials? Every imported number and its SIP trunk is removed too.")) return;
          try {
            const r = await api<{ numbers_removed: number }>("DELETE", "/twilio/credentials");
            toast(`Credentials removed (${r.numbers_removed} number${r.numbers_removed === 1 ? "" : "s"} too).`);
          } catch (err) { toast(errorMessage(err)); }
          await load();
        } }, "Remove")) : null,
      h("details", { open: !saved },
        h("summary", {}, saved ? "Replace the credentials" : "Add your credentials"),
        h("form", {
          novalidate: true,
          onsubmit: async (ev: Event) => {
            ev.preventDefault();
            mount(errors);
            const problem =
              !/^AC[0-9a-fA-F]{32}$/.test(accountSid.value.trim()) ? "The Account SID starts with AC followed by 32 hexadecimal characters (Twilio Console → Account info)." :
              !/^SK[0-9a-fA-F]{32}$/.test(keySid.value.trim()) ? "The API key SID starts with SK followed by 32 hexadecimal characters (Twilio Console → API keys)." :
              keySecret.value.length < 16 ? "The API key secret is at least 16 characters." : null;
            if (problem) return mount(errors, errorBox(problem));
            try {
              await api("POST", "/twilio/credentials", {
                account_sid: accountSid.value.trim(),
                api_key_sid: keySid.value.trim(),
                api_key_secret: keySecret.value,
              });
              toast("Credentials saved (encrypted).");
              await load();
            } catch (err) {
              mount(errors, errorBox(errorMessage(err)));
            }
          },
        },
        field("Account SID", accountSid),
        field("API key SID", keySid),
        field("API key secret", keySecret, "Shown once by Twilio when you create the key. Nova never shows it back."),
        h("button", { type: "submit", class: "primary" }, "Save credentials"))),
      errors);
  }

  async function loadAvailable(): Promise<void> {
    try {
      const res = await api<{ numbers: Available[] }>("GET", "/twilio/numbers/available");
      const errors = h("div", { "aria-live": "assertive" });
      mount(availableBox, h("h2", {}, "Numbers on your Twilio account"),
        res.numbers.length
          ? h("ul", { class: "plain-list" }, ...res.numbers.map((n) => h("li", { class: "row" },
              h("span", {}, h("code", {}, n.phone_number), n.friendly_name && n.friendly_name !== n.phone_number ? ` · ${n.friendly_name}` : ""),
              n.imported
                ? h("span", { class: "muted small" }, "Imported")
                : h("button", { type: "button", class: "secondary", "aria-label": `Import ${n.phone_number}`, onclick: async () => {
                    mount(errors);
                    try {
                      await api("POST", "/twilio/numbers/import", { sid: n.sid });
                      toast(`${n.phone_number} imported: verify it next.`);
                      await load();
                    } catch (err) { mount(errors, errorBox(errorMessage(err))); }
                  } }, "Import"))))
          : h("p", { class: "muted" }, "Your Twilio account has no phone numbers yet."),
        errors);
    } catch (err) {
      mount(availableBox, h("h2", {}, "Numbers on your Twilio account"), errorBox(errorMessage(err)));
    }
  }

  async function loadNumbers(): Promise<void> {
    const res = await api<{ numbers: NumberOut[] }>("GET", "/twilio/numbers");
    mount(numbersBox, h("h2", {}, "Your calling numbers"),
      res.numbers.length ? h("div", {}, ...res.numbers.map(renderNumber)) : h("p", { class: "muted" }, "No number imported yet."));
  }

  function renderNumber(n: NumberOut): HTMLElement {
    const errors = h("div", { "aria-live": "assertive" });
    const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, "aria-label": `Code for ${n.phone_number}` });
    const verify = n.status === "pending_verification"
      ? h("div", { class: "stack" },
          h("p", { class: "small muted" }, "Prove this number is yours: Nova texts a 6-digit code to it (valid 10 minutes; at most 3 texts in 10 minutes)."),
          h("div", { class: "inline-form" },
            h("button", { type: "button", class: "secondary", onclick: async () => {
              mount(errors);
              try {
                await api("POST", `/twilio/numbers/${n.id}/send-otp`);
                toast(`Code sent to ${n.phone_number}.`);
                code.focus();
              } catch (err) { mount(errors, errorBox(errorMessage(err))); }
            } }, "Text me a code"),
            code,
            h("button", { type: "button", class: "primary", onclick: async () => {
              mount(errors);
              if (!/^\d{6}$/.test(code.value.trim())) return mount(errors, errorBox("Enter the 6-digit code from the text message."));
              try {
                await api("POST", `/twilio/numbers/${n.id}/verify`, { code: code.value.trim() });
                toast(`${n.phone_number} verified.`);
                await load();
              } catch (err) { mount(errors, errorBox(errorMessage(err))); }
            } }, "Verify")))
      : null;
    return h("article", { class: "hook", "data-number": n.phone_number },
      h("div", { class: "row" },
        h("strong", {}, n.phone_number),
        h("span", {},
          h("span", { class: `status ${n.status === "active" ? "s-completed" : "s-pending"}` }, n.status === "active" ? "verified" : "not verified"),
          n.is_default ? h("span", { class: "pill" }, " Caller ID for your calls") : null)),
      n.verified_at ? h("p", { class: "small muted" }, `Verified ${fmtDate(n.verified_at)}`) : null,
      verify,
      h("div", { class: "actions" },
        n.status === "active" && !n.is_default
          ? h("button", { type: "button", class: "secondary", onclick: async () => {
              try {
                await api("POST", `/twilio/numbers/${n.id}/set-default`);
                toast(`Your calls now come from ${n.phone_number}.`);
              } catch (err) { toast(errorMessage(err)); }
              await load();
            } }, "Use for my calls")
          : null,
        h("button", { type: "button", class: "link", "aria-label": `Remove ${n.phone_number}`, onclick: async () => {
          if (!confirm(`Remove ${n.phone_number} and its SIP trunk?`)) return;
          try { await api("DELETE", `/twilio/numbers/${n.id}`); } catch (err) { toast(errorMessage(err)); }
          await load();
        } }, "Remove")),
      errors);
  }

  await load();
}
