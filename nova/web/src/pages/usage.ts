import { api, ApiError } from "../api";
import { errorBox, fmtDate, h, mount } from "../dom";
import type { Ctx } from "../main";
import { renderBilling, type Plan as BillingPlan } from "./billing";

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
      u.trial_ends_at && u.plan === "trial" ? h("p", { class: "muted" }, `Trial ends ${fmtDate(u.trial_ends_at)}`) : null);
  } catch (err) {
    mount(usageBox, h("h1", {}, "Usage & plan"), errorBox(err instanceof ApiError ? err.message : String(err)));
  }
  try {
    const [plans, u] = await Promise.all([
      api<{ plans: BillingPlan[] }>("GET", "/billing/plans"),
      api<Usage>("GET", "/billing/usage"),
    ]);
    await renderBilling(ctx, plansBox, plans.plans, u.plan);
  } catch (err) {
    mount(plansBox, h("h2", {}, "Plans"), errorBox((err as Error).message));
  }
}
