import { api, errorMessage } from "../api";
import { errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

interface Entry {
  phone: string;
  reason: string | null;
  source: "opt_out" | "api" | "import";
  call_id: string | null;
  created_at: string;
}

interface ImportReport {
  rows: number;
  added: number;
  already_listed: number;
  duplicates: number;
  rejected: number;
  problems: { row: number; value: string; status: string; detail: string }[];
  problems_truncated: boolean;
}

const MAX_FILE_BYTES = 1_000_000;

export async function renderDoNotCall(ctx: Ctx): Promise<void> {
  const phone = h("input", { type: "tel", name: "phone", placeholder: "+971501234567", required: true });
  const reason = h("input", { name: "reason", maxlength: 500, placeholder: "Asked by email" });
  const addErrors = h("div", { "aria-live": "assertive" });
  const file = h("input", { type: "file", name: "file", accept: ".csv,.txt,text/csv,text/plain" });
  const importErrors = h("div", { "aria-live": "assertive" });
  const importResult = h("div", { "aria-live": "polite" });
  const listBox = h("div");
  const count = h("p", { class: "muted" });
  let listed = new Set<string>();

  async function load(): Promise<void> {
    try {
      const res = await api<{ items: Entry[]; total: number }>("GET", "/v1/do-not-call?limit=500");
      listed = new Set(res.items.map((e) => e.phone));
      count.textContent = res.total === 1 ? "1 number on your list." : `${res.total} numbers on your list.`;
      if (!res.items.length) {
        mount(listBox, h("p", { class: "muted" }, "Nobody is on your do-not-call list yet."));
        return;
      }
      mount(listBox, h("div", { class: "table-wrap" }, h("table", { class: "dnc" },
        h("caption", { class: "sr-only" }, "Numbers Nova never calls for you"),
        h("thead", {}, h("tr", {}, ...["Number", "Why", "Added", ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, ...res.items.map((e) => h("tr", {},
          h("td", {}, h("code", {}, e.phone)),
          h("td", {}, e.source === "opt_out"
            ? h("span", {}, "Asked during a call", e.call_id ? " · " : null,
                e.call_id ? h("a", { href: `#/calls/${e.call_id}` }, "open the call") : null)
            : e.reason ?? (e.source === "import" ? "Imported" : "Added by you")),
          h("td", {}, fmtDate(e.created_at)),
          h("td", {}, e.source === "opt_out" ? h("span", { class: "muted" }, "Kept (the lead asked)") : h("button", {
            type: "button",
            class: "link",
            "aria-label": `Remove ${e.phone}`,
            onclick: async () => {
              if (!confirm(`Remove ${e.phone}? Nova may call this number again.`)) return;
              try {
                await api("DELETE", `/v1/do-not-call/${encodeURIComponent(e.phone)}`);
                toast(`${e.phone} removed from the list.`);
              } catch (err) {
                toast(errorMessage(err));
              }
              await load();
            },
          }, "Remove"))))))));
    } catch (err) {
      mount(listBox, errorBox(errorMessage(err)));
    }
  }

  const addForm = h("form", {
    class: "inline-form",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(addErrors);
      mount(importErrors);
      if (!phone.value.trim()) return mount(addErrors, errorBox("Enter a phone number in international format, e.g. +971501234567."));
      const typed = phone.value.replace(/[\s().-]/g, "");
      if (listed.has(typed)) return mount(addErrors, errorBox(`${typed} is already on your do-not-call list.`));
      try {
        const e = await api<Entry>("POST", "/v1/do-not-call", { phone: phone.value.trim(), reason: reason.value.trim() || null });
        toast(`${e.phone} will not be called.`);
        phone.value = reason.value = "";
        await load();
      } catch (err) {
        mount(addErrors, errorBox(errorMessage(err)));
      }
    },
  }, field("Phone number", phone), field("Reason (optional)", reason), h("button", { type: "submit", class: "primary" }, "Add number"));

  const importForm = h("form", {
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(importErrors);
      mount(importResult);
      mount(addErrors);
      const f = file.files?.[0];
      if (!f) return mount(importErrors, errorBox("Choose a CSV or text file first."));
      if (f.size > MAX_FILE_BYTES) return mount(importErrors, errorBox("That file is larger than 1 MB: split it and import the parts."));
      try {
        const res = await api<ImportReport>("POST", "/v1/do-not-call/import", await f.text(), { "Content-Type": "text/csv" });
        const skipped = res.problems.filter((p) => p.status === "rejected");
        mount(importResult, h("p", { class: "notice" },
          `Imported ${res.added} new number${res.added === 1 ? "" : "s"}` + (res.already_listed ? `; ${res.already_listed} already on the list.` : ".")));
        if (skipped.length) {
          mount(importErrors, h("div", { class: "error", role: "alert" },
            h("p", {}, `${res.rejected} row${res.rejected === 1 ? " was" : "s were"} not imported:`),
            h("ul", {}, ...skipped.map((p) => h("li", {}, `row ${p.row} (${p.value}): ${p.detail}`))),
            res.problems_truncated ? h("p", {}, "…and more (only the first problems are listed).") : null));
        }
        file.value = "";
        await load();
      } catch (err) {
        mount(importErrors, errorBox(errorMessage(err)));
      }
    },
  },
  field("CSV or text file", file, "One number per line, or a CSV with a phone (or number, mobile) column; a header line is fine. Good rows are imported; rows that are not valid numbers are listed with the reason."),
  h("button", { type: "submit", class: "secondary" }, "Import"));

  mount(ctx.main,
    h("section", { class: "card" },
      h("h1", {}, "Do-not-call list"),
      h("p", { class: "muted" }, "Nova never dials these numbers for you — from the wizard, the API or a portal lead. Leads who ask not to be called during a call are added automatically."),
      addForm, addErrors),
    h("section", { class: "card" }, h("h2", {}, "Import a list"), importForm, importErrors, importResult),
    h("section", { class: "card" }, h("h2", {}, "Your list"), count, listBox));
  await load();
}
