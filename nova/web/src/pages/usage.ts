import { api, ApiError } from "../api";
import { errorBox, fmtDate, h, mount } from "../dom";
import type { Ctx } from "../main";

interface Usage {
  plan: string;
  status: string;
  minutes_used: number;
  minutes_limit: number;
  minutes_remaining: number;
  period_start: string;
  period_end: string;
  trial_ends_at: string | null;
}

interface Plan {
  id: string;
  name: string;
  price_cents?: number;
  price_usd?: number;
  minutes_included?: number;
  included_minutes?: number;
  overage_cents_per_minute?: number;
  overage_per_minute_usd?: number;
}

export async function renderUsage(ctx: Ctx): Promise<void> {
  const usageBox = h("section", { class: "card" }, h("h1", {}, "Usage & plan"), h("p", { class: "muted" }, "Loading…"));
  const plansBox = h("section", { class: "card" }, h("h2", {}, "Plans"));
  mount(ctx.main, usageBox, plansBox);
  try {
    const u = await api<Usage>("GET", "/billing/usage");
    const pct = u.minutes_limit ? Math.min(100, Math.round((u.minutes_used / u.minutes_limit) * 100)) : 0;
    mount(usageBox, h("h1", {}, "Usage & plan"),
      h("p", {}, h("strong", {}, u.plan === "trial" ? "Free trial" : u.plan), ` · ${u.status}`),
      h("label", { for: "usage-meter" }, `${u.minutes_used} of ${u.minutes_limit} minutes used`),
      h("progress", { id: "usage-meter", max: 100, value: pct }, `${pct}%`),
      h("p", {}, `${u.minutes_remaining} minutes remaining · period ${fmtDate(u.period_start)} – ${fmtDate(u.period_end)}`),
      u.trial_ends_at ? h("p", { class: "muted" }, `Trial ends ${fmtDate(u.trial_ends_at)}`) : null);
  } catch (err) {
    mount(usageBox, h("h1", {}, "Usage & plan"), errorBox(err instanceof ApiError ? err.message : String(err)));
  }
  try {
    const plans = await api<Plan[] | { plans: Plan[] }>("GET", "/billing/plans");
    const list = Array.isArray(plans) ? plans : plans.plans;
    mount(plansBox, h("h2", {}, "Plans"), h("div", { class: "plans" }, ...list.map((p) => {
      const price = p.price_usd ?? (p.price_cents != null ? p.price_cents / 100 : null);
      const minutes = p.minutes_included ?? p.included_minutes;
      const overage = p.overage_per_minute_usd ?? (p.overage_cents_per_minute != null ? p.overage_cents_per_minute / 100 : null);
      return h("article", { class: "plan" }, h("h3", {}, p.name),
        h("p", { class: "price" }, price != null ? `$${price}/mo` : ""),
        h("p", {}, `${minutes ?? "—"} minutes included`),
        overage != null ? h("p", { class: "muted" }, `then $${overage.toFixed(2)}/min`) : null);
    })), h("p", { class: "muted" }, "Subscribe through the API (POST /billing/subscribe) or contact sales."));
  } catch (err) {
    mount(plansBox, h("h2", {}, "Plans"), errorBox((err as Error).message));
  }
}
