// Subscribing to a plan and managing it, on the "Usage & plan" page.
//
// Card payments need Stripe.js: card numbers are typed into Stripe's own frames, never into
// Nova's page, and Stripe requires its script to be loaded from Stripe. That is the one
// script this app ever loads from another host, and only when the server is configured
// for cards (GET /billing/config names the URL; the page's CSP allows exactly that origin).
// Everything else stays local. AED payments go through Ziina's hosted page (a redirect).
import { api, errorMessage, hashParams } from "../api";
import { errorBox, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

export interface Plan {
  id: string;
  name: string;
  price: number;
  currency: string;
  included_minutes: number;
  overage_per_minute: number;
  aed_price_fils: number | null;
}

interface PaymentConfig {
  stripe: { publishable_key: string; js_url: string } | null;
  ziina: boolean;
}

interface Subscription {
  subscription_id: string;
  provider: string;
  plan: string;
  status: string;
  current_period_end: string;
  cancel_at_period_end: boolean;
}

// The part of Stripe.js this page uses (https://docs.stripe.com/js).
interface StripeError { message?: string }
interface StripeCard { mount(el: HTMLElement): void; on(ev: string, cb: (e: { error?: StripeError }) => void): void; destroy(): void }
interface StripeJs {
  elements(): { create(kind: "card", opts?: unknown): StripeCard };
  createPaymentMethod(opts: { type: "card"; card: StripeCard }): Promise<{ paymentMethod?: { id: string }; error?: StripeError }>;
  confirmCardPayment(clientSecret: string): Promise<{ paymentIntent?: { status: string }; error?: StripeError }>;
}
declare global {
  interface Window { Stripe?: (key: string) => StripeJs }
}

let stripeLoading: Promise<StripeJs> | null = null;
function loadStripe(config: { publishable_key: string; js_url: string }): Promise<StripeJs> {
  stripeLoading ??= new Promise<StripeJs>((resolve, reject) => {
    if (window.Stripe) return resolve(window.Stripe(config.publishable_key));
    const script = document.createElement("script");
    script.src = config.js_url;
    script.onload = () => (window.Stripe ? resolve(window.Stripe(config.publishable_key)) : reject(new Error("Stripe.js did not start.")));
    script.onerror = () => reject(new Error("Could not load Stripe's payment form (Stripe.js). Check your connection or try again later."));
    document.head.append(script);
  }).catch((err) => {
    stripeLoading = null;
    throw err;
  });
  return stripeLoading;
}

const money = (p: Plan) => `$${p.price % 1 ? p.price.toFixed(2) : p.price}/mo`;

export async function renderBilling(ctx: Ctx, box: HTMLElement, plans: Plan[], currentPlan: string): Promise<void> {
  let config: PaymentConfig = { stripe: null, ziina: false };
  let sub: Subscription | null = null;
  const errors = h("div", { "aria-live": "assertive" });
  try {
    [config, sub] = await Promise.all([
      api<PaymentConfig>("GET", "/billing/config"),
      api<Subscription | null>("GET", "/billing/subscription"),
    ]);
  } catch (err) {
    mount(box, h("h2", {}, "Plans"), errorBox(errorMessage(err)));
    return;
  }
  const checkout = h("div", { id: "checkout", "aria-live": "polite" });
  const back = hashParams().get("payment");
  const returned = back === "success"
    ? h("p", { class: "notice", role: "status" }, "Thank you: Ziina took your payment. Your plan starts as soon as Ziina confirms it to Nova, usually within seconds.")
    : back === "cancel"
      ? h("p", { class: "notice", role: "status" }, "Payment cancelled at Ziina: nothing was charged.")
      : null;

  const manage = sub ? renderManage(sub) : null;
  const cards = plans.map((p) => {
    const isCurrent = p.id === currentPlan && !!sub;
    return h("article", { class: `plan${isCurrent ? " current" : ""}`, "data-plan": p.id },
      h("h3", {}, p.name),
      h("p", { class: "price" }, money(p)),
      h("p", {}, `${p.included_minutes} minutes included`),
      h("p", { class: "muted" }, `then $${p.overage_per_minute.toFixed(2)}/min`),
      h("div", { class: "actions" }, isCurrent
        ? h("span", { class: "pill" }, "Your plan")
        : h("button", { type: "button", class: "primary", onclick: () => void choose(p) }, sub ? `Switch to ${p.name}` : `Choose ${p.name}`)));
  });
  mount(box, h("h2", {}, "Plans"), returned, manage, h("div", { class: "plans" }, ...cards), errors, checkout);

  function renderManage(s: Subscription): HTMLElement {
    const plan = plans.find((p) => p.id === s.plan);
    const line = s.cancel_at_period_end
      ? `Cancels on ${fmtDate(s.current_period_end)}: no further charges.`
      : `Renews on ${fmtDate(s.current_period_end)}.`;
    const waiting = s.status === "incomplete" ? h("p", { class: "small muted" }, "Waiting for the first payment to be confirmed.") : null;
    return h("div", { class: "notice", id: "subscription" },
      h("p", {}, h("strong", {}, `${plan?.name ?? s.plan} plan`), ` · ${s.status.replace("_", " ")} · ${line}`), waiting,
      s.cancel_at_period_end ? null : h("button", {
        type: "button",
        class: "secondary",
        onclick: async () => {
          if (!confirm("Cancel at the end of the current period? You keep your minutes until then.")) return;
          try {
            await api("POST", "/billing/cancel");
            toast("Your plan will end with the current period.");
            ctx.go("#/usage");
          } catch (err) {
            mount(errors, errorBox(errorMessage(err)));
          }
        },
      }, "Cancel plan"));
  }

  async function choose(plan: Plan): Promise<void> {
    mount(errors);
    const card = config.stripe ? h("div", { class: "card-element", id: "card-element" }, h("span", { class: "muted" }, "Loading Stripe's card form…")) : null;
    const payErrors = h("div", { "aria-live": "assertive" });
    const pay = h("button", { type: "button", class: "primary", disabled: true }, `Pay ${money(plan)} by card`);
    const aed = plan.aed_price_fils != null
      ? `AED ${(plan.aed_price_fils / 100).toFixed(plan.aed_price_fils % 100 ? 2 : 0)}`
      : null;
    const ziina = h("button", { type: "button", class: "secondary" }, aed ? `Pay ${aed} with Ziina` : "Pay in AED with Ziina");
    mount(checkout, h("section", { class: "stack", "aria-labelledby": "checkout-title" },
      h("h3", { id: "checkout-title" }, `${sub ? "Switch to" : "Subscribe to"} ${plan.name}`),
      config.stripe
        ? h("div", {}, h("p", { class: "small muted" }, "Card details go straight to Stripe in its secure form; Nova never sees them."), card, h("div", { class: "actions" }, pay))
        : h("p", { class: "muted" }, "Card payments are not set up on this server (an operator sets STRIPE_API_KEY and STRIPE_PUBLISHABLE_KEY)."),
      config.ziina && aed ? h("div", { class: "actions" }, ziina, h("span", { class: "small muted" }, "You pay on Ziina's page and come back here.")) : null,
      payErrors));
    ziina.addEventListener("click", async () => {
      mount(payErrors);
      ziina.setAttribute("disabled", "");
      try {
        const res = await api<{ redirect_url: string }>("POST", "/billing/create-payment", { plan_id: plan.id });
        location.assign(res.redirect_url);
      } catch (err) {
        mount(payErrors, errorBox(errorMessage(err)));
        ziina.removeAttribute("disabled");
      }
    });
    if (!config.stripe || !card) return;
    let stripe: StripeJs;
    let element: StripeCard;
    try {
      stripe = await loadStripe(config.stripe);
      element = stripe.elements().create("card");
      card.replaceChildren();
      element.mount(card);
      element.on("change", (e) => mount(payErrors, e.error?.message ? errorBox(e.error.message) : null));
      pay.removeAttribute("disabled");
    } catch (err) {
      mount(card, errorBox(errorMessage(err)));
      return;
    }
    pay.addEventListener("click", async () => {
      mount(payErrors);
      pay.setAttribute("disabled", "");
      pay.textContent = "Paying…";
      try {
        const pm = await stripe.createPaymentMethod({ type: "card", card: element });
        if (pm.error || !pm.paymentMethod) throw new Error(pm.error?.message ?? "Stripe could not read the card.");
        const res = await api<{ status: string; client_secret: string | null }>("POST", "/billing/subscribe", {
          plan: plan.id,
          payment_method_id: pm.paymentMethod.id,
        });
        if (res.client_secret && res.status !== "active" && res.status !== "trialing") {
          // The first invoice's payment is confirmed here, in the browser (3-D Secure if asked).
          const confirmed = await stripe.confirmCardPayment(res.client_secret);
          if (confirmed.error) throw new Error(confirmed.error.message ?? "The payment was not confirmed.");
        }
        mount(checkout, h("p", { class: "notice", role: "status" }, `Payment confirmed. Your ${plan.name} plan starts as soon as Stripe tells Nova (usually within seconds).`));
        element.destroy();
        void waitForPlan(plan);
      } catch (err) {
        mount(payErrors, errorBox(errorMessage(err)));
        pay.removeAttribute("disabled");
        pay.textContent = `Pay ${money(plan)} by card`;
      }
    });
  }

  async function waitForPlan(plan: Plan): Promise<void> {
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => window.setTimeout(r, 2000));
      if (!location.hash.startsWith("#/usage")) return;
      const s = await api<Subscription | null>("GET", "/billing/subscription").catch(() => null);
      if (s && s.plan === plan.id && s.status === "active") {
        toast(`You are on the ${plan.name} plan.`);
        ctx.go("#/usage");
        return;
      }
    }
  }
}
