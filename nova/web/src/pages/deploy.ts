import { api, ApiError, type BatchResponse } from "../api";
import { errorBox, field, h, mount } from "../dom";
import type { Ctx } from "../main";

const GOALS: Record<string, string> = {
  qualify_interest: "Qualify interest",
  book_meeting: "Book a meeting",
  collect_info: "Collect information",
  close_sale: "Close the sale",
};

interface LeadRow {
  row: HTMLElement;
  phone: HTMLInputElement;
  name: HTMLInputElement;
  company: HTMLInputElement;
}

export function renderDeploy(ctx: Ctx): void {
  let step = 0;
  const product = h("input", { name: "product", required: true, maxlength: 500, placeholder: "CloudSync CRM" });
  const website = h("input", { name: "website_url", type: "url", placeholder: "https://your-site.example" });
  const context = h("textarea", {
    name: "context",
    rows: 4,
    placeholder: "Pricing, key benefits, common objections…",
  });
  const goal = h(
    "select",
    { name: "goal" },
    ...Object.entries(GOALS).map(([v, label]) => h("option", { value: v }, label)),
  );
  const link = h("input", { name: "link", type: "url", placeholder: "https://cal.example/you" });
  const linkField = field("Booking link", link);
  const language = h(
    "select",
    { name: "language" },
    h("option", { value: "en" }, "English"),
    h("option", { value: "ar-AE" }, "Arabic (Gulf)"),
  );
  const consent = h("input", { type: "checkbox", name: "consent", id: "consent" });
  const leads: LeadRow[] = [];
  const leadList = h("div", { class: "leads" });
  const addLead = h("button", { type: "button", class: "secondary", onclick: () => addRow() }, "+ Add lead");

  function syncLink(): void {
    const g = goal.value;
    const needs = g === "book_meeting" || g === "close_sale";
    linkField.hidden = !needs;
    const label = linkField.querySelector("label");
    if (label) label.textContent = g === "close_sale" ? "Payment link" : "Booking link";
    link.required = needs;
  }
  goal.addEventListener("change", syncLink);

  function addRow(): void {
    if (leads.length >= 5) return;
    const n = leads.length + 1;
    const phone = h("input", { type: "tel", placeholder: "+971501234567", required: true, "aria-label": `Lead ${n} phone (E.164)` });
    const name = h("input", { placeholder: "Name", "aria-label": `Lead ${n} name` });
    const company = h("input", { placeholder: "Company", "aria-label": `Lead ${n} company` });
    const entry: LeadRow = { row: h("div", { class: "lead-row" }), phone, name, company };
    const remove = h("button", {
      type: "button",
      class: "link",
      "aria-label": `Remove lead ${n}`,
      onclick: () => {
        leads.splice(leads.indexOf(entry), 1);
        entry.row.remove();
        addLead.hidden = false;
      },
    }, "Remove");
    entry.row.append(phone, name, company, remove);
    leads.push(entry);
    leadList.append(entry.row);
    addLead.hidden = leads.length >= 5;
  }
  addRow();

  const errors = h("div", { "aria-live": "assertive" });
  const results = h("div");
  const steps = [
    h("fieldset", {}, h("legend", {}, "1 · What are you selling?"),
      field("Product", product),
      field("Website (optional)", website, "We read it once to learn about your product."),
      field("Context (optional)", context, "Anything the agent should know: pricing, objections, offers.")),
    h("fieldset", {}, h("legend", {}, "2 · Goal and language"),
      field("Goal", goal), linkField, field("Language", language)),
    h("fieldset", {}, h("legend", {}, "3 · Leads (up to 5)"),
      h("p", { class: "muted" }, "Phone numbers in international format, e.g. +971501234567."),
      leadList, addLead,
      h("div", { class: "consent" }, consent,
        h("label", { for: "consent" }, "I confirm I have permission to contact these people."))),
  ];
  const back = h("button", { type: "button", class: "secondary", onclick: () => show(step - 1) }, "Back");
  const next = h("button", { type: "button", class: "primary", onclick: () => validate(step) && show(step + 1) }, "Next");
  const submit = h("button", { type: "submit", class: "primary" }, "Deploy agent");
  const progress = h("p", { class: "muted", "aria-live": "polite" });

  function validate(i: number): boolean {
    mount(errors);
    const problem =
      i === 0 && !product.value.trim() ? "Tell us what you are selling." :
      i === 1 && link.required && !link.value.trim() ? `Add the ${goal.value === "close_sale" ? "payment" : "booking"} link for this goal.` :
      i === 2 && !leads.some((l) => l.phone.value.trim()) ? "Add at least one lead with a phone number." :
      i === 2 && !consent.checked ? "Please confirm you have permission to contact these leads." :
      null;
    if (problem) mount(errors, errorBox(problem));
    return !problem;
  }

  function show(i: number): void {
    step = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach((s, idx) => (s.hidden = idx !== step));
    back.hidden = step === 0;
    next.hidden = step === steps.length - 1;
    submit.hidden = step !== steps.length - 1;
    progress.textContent = `Step ${step + 1} of ${steps.length}`;
    steps[step].querySelector<HTMLElement>("input,select,textarea")?.focus();
  }

  // One Idempotency-Key per batch: a retry of the same form (a timeout, a network error)
  // replays the first answer instead of dialing again; a changed form is a new batch.
  let lastBody = "";
  let lastKey = "";
  let done = false;

  function lock(): void {
    done = true;
    steps.forEach((s) => s.setAttribute("disabled", ""));
    back.hidden = next.hidden = submit.hidden = true;
    again.hidden = false;
  }

  const again = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => renderDeploy(ctx) }, "Start another batch");

  const form = h("form", {
    class: "card",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      if (done || !validate(2)) return;
      const g = goal.value;
      const body: Record<string, unknown> = {
        owner_email: ctx.user?.email,
        product: product.value.trim(),
        goal: g,
        language: language.value,
        consent: consent.checked,
        leads: leads
          .filter((l) => l.phone.value.trim())
          .map((l) => ({
            phone: l.phone.value.trim(),
            ...(l.name.value.trim() ? { name: l.name.value.trim() } : {}),
            ...(l.company.value.trim() ? { company: l.company.value.trim() } : {}),
          })),
      };
      if (website.value.trim()) body.website_url = website.value.trim();
      if (context.value.trim()) body.context = context.value.trim();
      if (g === "book_meeting") body.booking_link = link.value.trim();
      if (g === "close_sale") body.payment_link = link.value.trim();
      const serialized = JSON.stringify(body);
      if (serialized !== lastBody) {
        lastBody = serialized;
        lastKey = crypto.randomUUID();
      }
      submit.setAttribute("disabled", "");
      submit.textContent = "Deploying…";
      mount(errors);
      try {
        const res = await api<BatchResponse>("POST", "/calls", body, { "Idempotency-Key": lastKey });
        void ctx.refreshUser();
        lock();
        mount(results, h("section", { class: "card", "aria-live": "polite" },
          h("h2", {}, `${res.dispatched} of ${res.total} agents dispatched`),
          h("ul", { class: "results" }, ...res.calls.map((c) =>
            h("li", {}, h("a", { href: `#/calls/${c.call_id}` }, `${c.lead_name || c.phone}`),
              " — ", h("span", { class: `status s-${c.status}` }, c.status),
              c.status === "failed"
                ? h("span", { class: "error-text" }, ` · ${c.error || c.message || "Could not be dispatched"}`)
                : c.message ? ` · ${c.message}` : ""))),
          h("p", {}, h("a", { href: "#/calls" }, "See all calls →"))));
      } catch (err) {
        mount(errors, errorBox(err instanceof ApiError ? err.message : String(err)));
      } finally {
        if (!done) {
          submit.removeAttribute("disabled");
          submit.textContent = "Deploy agent";
        }
      }
    },
  },
  h("h1", {}, "Deploy your first agent"),
  progress, ...steps, errors,
  h("div", { class: "actions" }, back, next, submit, again));

  mount(ctx.main, form, results);
  syncLink();
  show(0);
}
