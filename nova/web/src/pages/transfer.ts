import { api, ApiError } from "../api";
import { errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

interface TransferSettings {
  configured: boolean;
  phone_e164: string | null;
  mode: "warm" | "cold" | null;
  updated_at: string | null;
}

// "Transfer to a person": the number the agent hands a phone call to when the lead asks.
export async function renderTransfer(ctx: Ctx): Promise<void> {
  const phone = h("input", {
    name: "phone_e164",
    type: "tel",
    required: true,
    autocomplete: "tel",
    placeholder: "+14155550123",
    pattern: "\\+[1-9][0-9]{6,14}",
  });
  const mode = h(
    "select",
    { name: "mode" },
    h("option", { value: "warm" }, "Warm — the agent briefs your colleague first"),
    h("option", { value: "cold" }, "Cold — transfer the call at once"),
  );
  const errors = h("div", { "aria-live": "assertive" });
  const status = h("p", { id: "transfer-status", "aria-live": "polite" }, "Loading…");
  const remove = h("button", { type: "button", class: "danger", hidden: true }, "Remove number");

  function show(s: TransferSettings): void {
    if (s.configured) {
      mount(status, "Phone calls are transferred to ", h("strong", {}, s.phone_e164 ?? ""),
        ` (${s.mode}) · updated ${fmtDate(s.updated_at)}`);
      phone.value = s.phone_e164 ?? "";
      mode.value = s.mode ?? "warm";
    } else {
      mount(status, "No number set: when a lead asks for a person, the agent says nobody is available and offers a callback.");
      phone.value = "";
    }
    remove.hidden = !s.configured;
  }

  remove.addEventListener("click", async () => {
    if (!confirm("Stop transferring calls to a person?")) return;
    try {
      await api("DELETE", "/me/transfer");
      show({ configured: false, phone_e164: null, mode: null, updated_at: null });
      toast("Transfer number removed.");
    } catch (err) {
      mount(errors, errorBox((err as Error).message));
    }
  });

  const form = h("form", {
    class: "card",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(errors);
      try {
        const s = await api<TransferSettings>("PUT", "/me/transfer", { phone_e164: phone.value.trim(), mode: mode.value });
        show(s);
        toast("Transfer number saved.");
      } catch (err) {
        mount(errors, errorBox(err instanceof ApiError ? err.message : String(err)));
      }
    },
  },
  h("h1", {}, "Transfer to a person"),
  h("p", { class: "muted" },
    "When a lead asks to speak to a person, the agent transfers the phone call to this number. ",
    "Browser demo calls are never transferred: there the agent explains that transfers happen on phone calls only."),
  status,
  field("Your team's number", phone, "E.164: a +, the country code and the number, digits only."),
  field("How to hand over", mode),
  errors,
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save number"), remove));

  mount(ctx.main, form);
  try {
    show(await api<TransferSettings>("GET", "/me/transfer"));
  } catch (err) {
    mount(status, errorBox((err as Error).message));
  }
}
