import { api, ApiError } from "../api";
import { errorBox, fmtDate, h, mount } from "../dom";
import type { Ctx } from "../main";

export interface CallRecord {
  call_id: string;
  context_id: string;
  room_name: string;
  status: string;
  phone: string;
  lead_name: string | null;
  goal: string;
  language: string;
  mode: string;
  error: string | null;
  outcome: string | null;
  goal_completed: boolean | null;
  duration_seconds: number | null;
  sms_sent: boolean;
  created_at: string;
  ended_at: string | null;
  transcript: { role: string; text: string }[] | null;
}

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `status s-${status}` }, status.replace("_", " "));
}

export function renderCalls(ctx: Ctx): () => void {
  const body = h("tbody");
  const errors = h("div", { "aria-live": "assertive" });
  const updated = h("p", { class: "muted", "aria-live": "off" });
  const table = h("table", { class: "calls" },
    h("caption", { class: "sr-only" }, "Your calls"),
    h("thead", {}, h("tr", {}, ...["Lead", "Phone", "Goal", "Status", "Outcome", "Created"].map((c) => h("th", { scope: "col" }, c)))),
    body);

  async function load(): Promise<void> {
    try {
      const calls = await api<CallRecord[]>("GET", "/v1/calls?limit=100");
      mount(errors);
      if (!calls.length) {
        mount(body, h("tr", {}, h("td", { colspan: 6 }, "No calls yet. ", h("a", { href: "#/deploy" }, "Deploy your first agent"))));
      } else {
        mount(body, ...calls.map((c) =>
          h("tr", {},
            h("td", { "data-label": "Lead" }, h("a", { href: `#/calls/${c.call_id}` }, c.lead_name || "Lead")),
            h("td", { "data-label": "Phone" }, c.phone),
            h("td", { "data-label": "Goal" }, c.goal.replace("_", " ")),
            h("td", { "data-label": "Status" }, statusBadge(c.status), c.error ? h("div", { class: "small error-text" }, c.error) : null),
            h("td", { "data-label": "Outcome" }, c.outcome ?? "—"),
            h("td", { "data-label": "Created" }, fmtDate(c.created_at)))));
      }
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every 3 s`;
    } catch (err) {
      mount(errors, errorBox(err instanceof ApiError ? err.message : String(err)));
    }
  }

  mount(ctx.main, h("section", { class: "card" },
    h("div", { class: "row" }, h("h1", {}, "Calls"), h("a", { class: "button primary", href: "#/deploy" }, "New batch")),
    errors, h("div", { class: "table-wrap" }, table), updated));
  void load();
  const timer = window.setInterval(load, 3000);
  return () => window.clearInterval(timer);
}
