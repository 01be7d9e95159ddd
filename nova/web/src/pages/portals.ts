import { api, errorMessage } from "../api";
import { copyButton, errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

type Portal = "property_finder" | "bayut";

interface Integration {
  id: string;
  portal: Portal;
  enabled: boolean;
  secret_last4: string;
  product: string;
  context: string | null;
  goal: string;
  language: string;
  booking_link: string | null;
  payment_link: string | null;
  owner_email: string;
  receiver_url: string;
  created_at: string;
  secret?: string;
}

interface Lead {
  id: string;
  event_id: string;
  listing_reference: string | null;
  listing_title: string | null;
  name: string | null;
  phone: string;
  status: "received" | "dispatched" | "failed";
  error: string | null;
  call_id: string | null;
  received_at: string;
}

const PORTALS: Record<Portal, { name: string; header: string; where: string }> = {
  property_finder: {
    name: "Property Finder",
    header: "X-PropertyFinder-Signature",
    where: "Property Finder's lead-webhook settings (or send them to your Property Finder account manager)",
  },
  bayut: {
    name: "Bayut",
    header: "X-Bayut-Signature",
    where: "Bayut's lead-webhook settings (or send them to your Bayut account manager)",
  },
};

const GOALS: Record<string, string> = {
  qualify_interest: "Qualify interest",
  book_meeting: "Book a meeting",
  collect_info: "Collect information",
  close_sale: "Close the sale",
};

export function renderPortals(ctx: Ctx): () => void {
  const portal = h("select", { name: "portal" },
    ...Object.entries(PORTALS).map(([v, p]) => h("option", { value: v }, p.name)));
  const product = h("input", { name: "product", maxlength: 500, placeholder: "Marina Heights residences", required: true });
  const context = h("textarea", { name: "context", rows: 3, maxlength: 4000, placeholder: "2-4BR, payment plans, handover Q4" });
  const goal = h("select", { name: "goal" }, ...Object.entries(GOALS).map(([v, l]) => h("option", { value: v }, l)));
  const language = h("select", { name: "language" }, h("option", { value: "en" }, "English"), h("option", { value: "ar-AE" }, "Arabic (Gulf)"));
  const link = h("input", { type: "url", name: "link", placeholder: "https://cal.example/you" });
  const linkField = field("Booking link", link);
  const owner = h("input", { type: "email", name: "owner_email", required: true });
  owner.value = ctx.user?.email ?? "";
  const errors = h("div", { "aria-live": "assertive" });
  const secretBox = h("div", { "aria-live": "polite" });
  const list = h("div");
  let timer: number | undefined;

  function syncLink(): void {
    const needs = goal.value === "book_meeting" || goal.value === "close_sale";
    linkField.hidden = !needs;
    linkField.querySelector("label")!.textContent = goal.value === "close_sale" ? "Payment link" : "Booking link";
  }
  goal.addEventListener("change", syncLink);

  function showSecret(i: Integration, title: string): void {
    const p = PORTALS[i.portal];
    mount(secretBox, h("div", { class: "secret", role: "alert" },
      h("strong", {}, `${title} — the shared secret is shown once. Paste both into ${p.where}:`),
      h("dl", { class: "kv" },
        h("dt", {}, "Webhook URL"), h("dd", {}, h("div", { class: "copy-row" }, h("code", { id: "portal-url" }, i.receiver_url), copyButton(i.receiver_url, "Copy webhook URL"))),
        h("dt", {}, "Secret"), h("dd", {}, h("div", { class: "copy-row" }, h("code", { id: "portal-secret" }, i.secret ?? ""), copyButton(i.secret ?? "", "Copy secret")))),
      h("p", { class: "small" }, `The portal signs each lead with it (${p.header}: sha256=…). Nova calls the lead within seconds.`)));
  }

  async function load(): Promise<void> {
    try {
      const items = await api<Integration[]>("GET", "/portals/integrations");
      if (!items.length) {
        mount(list, h("p", { class: "muted" }, "No portal connected yet."));
        return;
      }
      mount(list, ...items.map(renderIntegration));
    } catch (err) {
      mount(list, errorBox(errorMessage(err)));
    }
  }

  function renderIntegration(i: Integration): HTMLElement {
    const leads = h("div", { class: "leads-box" }, h("p", { class: "muted" }, "Loading recent leads…"));
    const p = PORTALS[i.portal];
    const article = h("article", { class: "hook", "data-portal": i.portal },
      h("div", { class: "row" },
        h("h3", {}, p.name),
        h("span", { class: `status ${i.enabled ? "s-completed" : "s-failed"}` }, i.enabled ? "enabled" : "disabled")),
      h("dl", { class: "kv" },
        h("dt", {}, "Webhook URL"), h("dd", {}, h("div", { class: "copy-row" }, h("code", {}, i.receiver_url), copyButton(i.receiver_url, `Copy ${p.name} webhook URL`))),
        h("dt", {}, "Secret"), h("dd", {}, `…${i.secret_last4}`),
        h("dt", {}, "Calls"), h("dd", {}, `${GOALS[i.goal] ?? i.goal} · ${i.product} · results to ${i.owner_email}`)),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: async () => {
          try {
            await api("PATCH", `/portals/integrations/${i.id}`, { enabled: !i.enabled });
            toast(i.enabled ? `${p.name} disabled: its leads are refused (503).` : `${p.name} enabled.`);
          } catch (err) { toast(errorMessage(err)); }
          await load();
        } }, i.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "secondary", onclick: async () => {
          if (!confirm(`Issue a new secret for ${p.name}? Leads signed with the old one are refused until you paste the new one.`)) return;
          try {
            const fresh = await api<Integration>("POST", `/portals/integrations/${i.id}/rotate-secret`);
            showSecret(fresh, `New ${p.name} secret`);
          } catch (err) { toast(errorMessage(err)); }
          await load();
        } }, "New secret")),
      h("h4", {}, "Recent leads"), leads);
    void loadLeads(i, leads);
    return article;
  }

  async function loadLeads(i: Integration, box: HTMLElement): Promise<void> {
    try {
      const rows = await api<Lead[]>("GET", `/portals/integrations/${i.id}/leads?limit=10`);
      mount(box, rows.length
        ? h("div", { class: "table-wrap" }, h("table", {},
            h("thead", {}, h("tr", {}, ...["Lead", "Listing", "Status", "Received"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, ...rows.map((l) => h("tr", {},
              h("td", {}, l.call_id ? h("a", { href: `#/calls/${l.call_id}` }, l.name || l.phone) : l.name || l.phone),
              h("td", {}, l.listing_title || l.listing_reference || "—"),
              h("td", {}, h("span", { class: `status s-${l.status === "dispatched" ? "completed" : l.status === "failed" ? "failed" : "pending"}` }, l.status),
                l.error ? h("div", { class: "small error-text" }, l.error) : null),
              h("td", {}, fmtDate(l.received_at)))))))
        : h("p", { class: "muted" }, "No leads yet. They appear here as soon as the portal sends one."));
    } catch (err) {
      mount(box, errorBox(errorMessage(err)));
    }
  }

  const form = h("form", {
    class: "card",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(errors);
      mount(secretBox);
      const problem =
        !product.value.trim() ? "Tell the agent what the leads asked about (the product or project)." :
        !owner.value.trim() ? "Enter the email that receives each call's result." :
        !linkField.hidden && !link.value.trim() ? `Add the ${goal.value === "close_sale" ? "payment" : "booking"} link for this goal.` :
        null;
      if (problem) return mount(errors, errorBox(problem));
      const body: Record<string, unknown> = {
        portal: portal.value,
        product: product.value.trim(),
        goal: goal.value,
        language: language.value,
        owner_email: owner.value.trim(),
      };
      if (context.value.trim()) body.context = context.value.trim();
      if (goal.value === "book_meeting") body.booking_link = link.value.trim();
      if (goal.value === "close_sale") body.payment_link = link.value.trim();
      try {
        const created = await api<Integration>("POST", "/portals/integrations", body);
        showSecret(created, `${PORTALS[created.portal].name} connected`);
        await load();
      } catch (err) {
        mount(errors, errorBox(errorMessage(err)));
      }
    },
  },
  h("h1", {}, "Portal leads"),
  h("p", { class: "muted" }, "Connect Property Finder or Bayut: every enquiry on your listings becomes a qualification call within seconds."),
  h("div", { class: "inline-form" }, field("Portal", portal), field("Goal", goal), field("Language", language)),
  field("Product or project", product),
  field("Context (optional)", context, "Prices, payment plans, what buyers usually ask."),
  linkField,
  field("Send call results to", owner),
  errors,
  h("button", { type: "submit", class: "primary" }, "Connect portal"),
  secretBox);

  mount(ctx.main, form, h("section", { class: "card" }, h("h2", {}, "Connected portals"), list));
  syncLink();
  void load();
  // Leads arrive on their own: refresh the list now and then (not while a secret is shown).
  timer = window.setInterval(() => {
    if (!secretBox.childElementCount) void load();
  }, 10000);
  return () => window.clearInterval(timer);
}
