import { api, ApiError } from "../api";
import { errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

const EVENTS = ["call.started", "call.ended", "call.transcribed", "call.scored"];

interface Webhook {
  id: string;
  url: string;
  events: string[];
  is_active: boolean;
  created_at: string;
  secret?: string;
}

interface Delivery {
  id: string;
  event_type?: string;
  event?: string;
  status: string;
  status_code: number | null;
  attempt_count: number;
  error_message: string | null;
  created_at: string;
}

export async function renderWebhooks(ctx: Ctx): Promise<void> {
  const url = h("input", { type: "url", required: true, placeholder: "https://hooks.example.com/nova" });
  const boxes = EVENTS.map((e) => h("input", { type: "checkbox", value: e, checked: true, id: `ev-${e}` }));
  const errors = h("div", { "aria-live": "assertive" });
  const secretBox = h("div", { "aria-live": "polite" });
  const list = h("div");

  async function load(): Promise<void> {
    try {
      const hooks = await api<Webhook[]>("GET", "/v1/webhooks");
      if (!hooks.length) {
        mount(list, h("p", { class: "muted" }, "No webhooks yet."));
        return;
      }
      mount(list, ...hooks.map(renderHook));
    } catch (err) {
      mount(list, errorBox((err as Error).message));
    }
  }

  function renderHook(w: Webhook): HTMLElement {
    const deliveries = h("div", { class: "deliveries" });
    const card = h("article", { class: "hook" },
      h("div", { class: "row" }, h("code", {}, w.url), h("span", { class: "muted" }, w.events.join(", "))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: async () => {
          try {
            await api("POST", `/v1/webhooks/${w.id}/test`);
            toast("Test event sent: check the deliveries below.");
            await showDeliveries();
          } catch (err) { toast((err as Error).message); }
        } }, "Send test"),
        h("button", { type: "button", class: "secondary", onclick: () => void showDeliveries() }, "Deliveries"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm(`Delete the webhook to ${w.url}?`)) return;
          await api("DELETE", `/v1/webhooks/${w.id}`);
          await load();
        } }, "Delete")),
      deliveries);

    async function showDeliveries(): Promise<void> {
      try {
        const rows = await api<Delivery[]>("GET", `/v1/webhooks/${w.id}/deliveries?limit=20`);
        mount(deliveries, rows.length
          ? h("table", {}, h("thead", {}, h("tr", {}, ...["Event", "Status", "HTTP", "Attempts", "Error", "When"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", {}, ...rows.map((d) => h("tr", {},
                h("td", {}, d.event_type ?? d.event ?? ""), h("td", {}, d.status), h("td", {}, d.status_code ?? "—"),
                h("td", {}, d.attempt_count), h("td", {}, d.error_message ?? ""), h("td", {}, fmtDate(d.created_at))))))
          : h("p", { class: "muted" }, "No deliveries yet."));
      } catch (err) {
        mount(deliveries, errorBox((err as Error).message));
      }
    }
    return card;
  }

  const form = h("form", {
    class: "card",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(errors);
      mount(secretBox);
      const events = boxes.filter((b) => b.checked).map((b) => b.value);
      try {
        const w = await api<Webhook>("POST", "/v1/webhooks", { url: url.value.trim(), events });
        mount(secretBox, h("div", { class: "secret", role: "alert" },
          h("strong", {}, "Signing secret — shown once. Save it now: "),
          h("code", { id: "webhook-secret" }, w.secret ?? ""),
          h("button", { type: "button", class: "link", onclick: () => void navigator.clipboard?.writeText(w.secret ?? "") }, "Copy")));
        url.value = "";
        await load();
      } catch (err) {
        mount(errors, errorBox(err instanceof ApiError ? err.message : String(err)));
      }
    },
  },
  h("h1", {}, "Webhooks"),
  h("p", { class: "muted" }, "Nova POSTs signed JSON (X-Nova-Signature) to your HTTPS endpoint on every call event."),
  field("Endpoint URL", url),
  h("fieldset", { class: "inline" }, h("legend", {}, "Events"),
    ...boxes.map((b) => h("label", { for: b.id, class: "check" }, b, b.value))),
  errors,
  h("button", { type: "submit", class: "primary" }, "Add webhook"),
  secretBox);

  mount(ctx.main, form, h("section", { class: "card" }, h("h2", {}, "Your webhooks"), list));
  await load();
}
