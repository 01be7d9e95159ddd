import { api, errorMessage } from "../api";
import { copyButton, errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

interface Code {
  code: string;
  commission_rate: number;
  share_url: string;
}

interface Stats {
  referrals: number;
  pending_signups: number;
  conversions: number;
  total_earnings_cents: number;
  available_balance_cents: number;
  paid_out_cents: number;
  commission_rate: number;
}

interface Referral {
  id: string;
  email: string;
  status: string;
  signed_up_at: string;
  converted_at: string | null;
  earnings_cents: number;
}

interface Payout {
  id: string;
  amount_cents: number;
  method: string;
  status: string;
  created_at: string;
}

const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const MIN_PAYOUT_CENTS = 5000;

function copyRow(value: string, id: string, label: string): HTMLElement {
  return h("div", { class: "copy-row" }, h("code", { id }, value), copyButton(value, label));
}

export async function renderReferrals(ctx: Ctx): Promise<void> {
  const head = h("section", { class: "card" }, h("h1", {}, "Referrals"), h("p", { class: "muted" }, "Loading…"));
  const payoutBox = h("section", { class: "card" });
  const listBox = h("section", { class: "card" });
  mount(ctx.main, head, payoutBox, listBox);

  async function load(): Promise<void> {
    let code: Code;
    let stats: Stats;
    try {
      [code, stats] = await Promise.all([api<Code>("GET", "/referrals/code"), api<Stats>("GET", "/referrals/stats")]);
    } catch (err) {
      mount(head, h("h1", {}, "Referrals"), errorBox(errorMessage(err)));
      return;
    }
    const pct = Math.round(stats.commission_rate * 100);
    mount(head, h("h1", {}, "Referrals"),
      h("p", {}, `Share your link: you earn ${pct}% of every invoice paid by the accounts you refer.`),
      h("dl", { class: "kv" }, h("dt", {}, "Your code"), h("dd", {}, h("strong", { id: "referral-code" }, code.code))),
      copyRow(code.share_url, "referral-link", "Copy referral link"),
      h("div", { class: "stats" },
        stat("Sign-ups", String(stats.referrals)),
        stat("Paying", String(stats.conversions)),
        stat("Earned", usd(stats.total_earnings_cents)),
        stat("Available", usd(stats.available_balance_cents), "available-balance"),
        stat("Paid out", usd(stats.paid_out_cents))));
    renderPayout(stats);
    void loadLists();
  }

  function stat(label: string, value: string, id?: string): HTMLElement {
    return h("div", { class: "stat" }, h("span", { class: "muted small" }, label), h("strong", { id: id ?? null }, value));
  }

  function renderPayout(stats: Stats): void {
    const amount = h("input", { type: "number", name: "amount", min: MIN_PAYOUT_CENTS / 100, step: "0.01", inputmode: "decimal" });
    amount.value = (stats.available_balance_cents / 100).toFixed(2);
    const method = h("select", { name: "method" },
      h("option", { value: "bank_transfer" }, "Bank transfer"),
      h("option", { value: "paypal" }, "PayPal"));
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Request payout");
    const enough = stats.available_balance_cents >= MIN_PAYOUT_CENTS;
    mount(payoutBox, h("h2", {}, "Request a payout"),
      h("p", { class: "muted" }, `Payouts start at ${usd(MIN_PAYOUT_CENTS)}. You have ${usd(stats.available_balance_cents)} available.`),
      h("form", {
        class: "inline-form",
        novalidate: true,
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          mount(errors);
          const cents = Math.round(Number(amount.value) * 100);
          if (!Number.isFinite(cents) || cents <= 0) return mount(errors, errorBox("Enter an amount in dollars, e.g. 50.00."));
          submit.setAttribute("disabled", "");
          try {
            const p = await api<Payout>("POST", "/referrals/payout", { amount_cents: cents, method: method.value });
            toast(`Payout of ${usd(p.amount_cents)} requested.`);
            await load();
          } catch (err) {
            mount(errors, errorBox(errorMessage(err)));
          } finally {
            submit.removeAttribute("disabled");
          }
        },
      }, field("Amount (USD)", amount), field("Method", method), submit),
      enough ? null : h("p", { class: "small muted" }, "Not enough yet — you can still try; Nova tells you what is missing."),
      errors);
  }

  async function loadLists(): Promise<void> {
    try {
      const [refs, payouts] = await Promise.all([
        api<{ items: Referral[]; total: number }>("GET", "/referrals/list?limit=50"),
        api<{ items: Payout[]; total: number }>("GET", "/referrals/payouts?limit=50"),
      ]);
      mount(listBox, h("h2", {}, "People you referred"),
        refs.items.length
          ? h("div", { class: "table-wrap" }, h("table", {},
              h("thead", {}, h("tr", {}, ...["Account", "Status", "Signed up", "Earned"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", {}, ...refs.items.map((r) => h("tr", {},
                h("td", {}, r.email), h("td", {}, r.status === "converted" ? "Paying" : "Signed up"),
                h("td", {}, fmtDate(r.signed_up_at)), h("td", {}, usd(r.earnings_cents)))))))
          : h("p", { class: "muted" }, "No sign-ups with your link yet."),
        h("h2", {}, "Payout requests"),
        payouts.items.length
          ? h("ul", { id: "payouts" }, ...payouts.items.map((p) => h("li", {}, `${usd(p.amount_cents)} · ${p.method.replace("_", " ")} · ${p.status} · ${fmtDate(p.created_at)}`)))
          : h("p", { class: "muted" }, "No payouts requested yet."));
    } catch (err) {
      mount(listBox, errorBox(errorMessage(err)));
    }
  }

  await load();
}
