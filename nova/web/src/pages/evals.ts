// Simulated calls: test the agent on a brief against personas before it dials anyone.
import { api, ApiError } from "../api";
import { errorBox, field, fmtDate, h, mount } from "../dom";
import type { Ctx } from "../main";

interface Persona {
  id: string;
  name: string;
  description: string;
  custom: boolean;
  expectations: { kind: string }[];
}

interface Failure { conversation_id: string; index: number; check: string; explanation: string }

interface PersonaResult {
  persona: string;
  name: string;
  conversations: number;
  finished: number;
  passed: number;
  failed: number;
  errors: number;
  pass_rate: number | null;
  meets_threshold: boolean | null;
  failures: Failure[];
}

interface Conversation {
  id: string;
  persona: string;
  index: number;
  status: string;
  turns: number;
  end_reason: string | null;
  outcome: string | null;
  transcript: { role: string; text: string }[];
  tool_calls: { name: string; turn: number; is_error?: boolean }[];
  checks: { label: string; passed: boolean; explanation: string }[];
  score: { overall?: number } | null;
  error: string | null;
}

interface Eval {
  id: string;
  status: string;
  passed: boolean | null;
  product: string;
  goal: string;
  max_turns: number;
  conversations_per_persona: number;
  pass_threshold: number;
  progress: { total: number; finished: number; running: number; pending: number };
  personas: PersonaResult[];
  usage: { input_tokens: number; output_tokens: number; llm_cost_usd: number; billed_minutes: number; simulated_talk_minutes: number };
  brief_source: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
  conversations: Conversation[] | null;
}

interface EvalSummary { id: string; status: string; passed: boolean | null; product: string; goal: string; created_at: string }

const GOALS: [string, string][] = [
  ["book_meeting", "Book a meeting"],
  ["qualify_interest", "Qualify interest"],
  ["collect_info", "Collect information"],
  ["close_sale", "Close the sale"],
];

function verdict(e: { status: string; passed: boolean | null }): HTMLElement {
  if (e.status === "completed") {
    return h("span", { class: `status ${e.passed ? "s-completed" : "s-failed"}` }, e.passed ? "passed" : "failed");
  }
  return h("span", { class: `status ${e.status === "failed" ? "s-failed" : "s-pending"}` }, e.status === "failed" ? "error" : e.status);
}

const usd = (v: number) => `$${v >= 0.01 || v === 0 ? v.toFixed(2) : v.toPrecision(2)}`;
const pct = (r: number | null) => (r === null ? "—" : `${Math.round(r * 100)}%`);

export function renderEvals(ctx: Ctx): void {
  const errors = h("div", { "aria-live": "assertive" });
  const product = h("input", { required: true, maxlength: 500, placeholder: "Marina Towers — sea-view apartments" });
  const context = h("textarea", { rows: 3, maxlength: 10000, placeholder: "What the agent should know: facts, prices, offers" });
  const goal = h("select", {}, ...GOALS.map(([v, label]) => h("option", { value: v }, label)));
  const link = h("input", { type: "url", placeholder: "https://cal.example.com/you" });
  const linkField = field("Booking link", link, "Sent by SMS when the lead agrees");
  const language = h("select", {}, h("option", { value: "en" }, "English"), h("option", { value: "ar-AE" }, "Gulf Arabic"));
  const perPersona = h("input", { type: "number", min: 1, max: 10, value: 1 });
  const maxTurns = h("input", { type: "number", min: 1, max: 30, value: 10 });
  const personaBox = h("fieldset", { class: "personas" }, h("legend", {}, "Personas"), h("p", { class: "muted" }, "Loading…"));
  const list = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, "Run simulated calls");

  const syncLink = () => {
    const g = goal.value;
    linkField.hidden = g !== "book_meeting" && g !== "close_sale";
    (linkField.querySelector("label") as HTMLElement).textContent = g === "close_sale" ? "Payment link" : "Booking link";
  };
  goal.addEventListener("change", syncLink);
  syncLink();

  async function loadPersonas(): Promise<void> {
    try {
      const personas = await api<Persona[]>("GET", "/v1/evals/personas");
      mount(personaBox, h("legend", {}, "Personas"),
        h("div", { class: "persona-grid" }, ...personas.map((p) => {
          const box = h("input", { type: "checkbox", value: p.id, checked: true, id: `p-${p.id}` });
          return h("label", { for: box.id, class: "check persona", title: p.description }, box,
            h("span", {}, p.name, p.custom ? h("span", { class: "pill" }, "yours") : null));
        })));
    } catch (err) {
      mount(personaBox, errorBox((err as Error).message));
    }
  }

  async function loadList(): Promise<void> {
    try {
      const evals = await api<EvalSummary[]>("GET", "/v1/evals?limit=20");
      mount(list, evals.length
        ? h("table", {}, h("thead", {}, h("tr", {}, ...["Brief", "Goal", "Result", "Started"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, ...evals.map((e) => h("tr", {},
              h("td", {}, h("a", { href: `#/evals/${e.id}` }, e.product)),
              h("td", {}, e.goal.replace("_", " ")),
              h("td", {}, verdict(e)),
              h("td", {}, fmtDate(e.created_at))))))
        : h("p", { class: "muted" }, "No evals yet."));
    } catch (err) {
      mount(list, errorBox((err as Error).message));
    }
  }

  const form = h("form", {
    class: "card",
    novalidate: true,
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      mount(errors);
      const personas = [...personaBox.querySelectorAll<HTMLInputElement>("input:checked")].map((b) => b.value);
      const body: Record<string, unknown> = {
        product: product.value.trim(),
        goal: goal.value,
        language: language.value,
        context: context.value.trim() || undefined,
        personas,
        conversations_per_persona: Number(perPersona.value),
        max_turns: Number(maxTurns.value),
      };
      if (goal.value === "book_meeting") body.booking_link = link.value.trim() || undefined;
      if (goal.value === "close_sale") body.payment_link = link.value.trim() || undefined;
      submit.disabled = true;
      try {
        const created = await api<Eval>("POST", "/v1/evals", body);
        ctx.go(`#/evals/${created.id}`);
      } catch (err) {
        mount(errors, errorBox(err instanceof ApiError ? err.message : String(err)));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h("h1", {}, "Simulated calls"),
  h("p", { class: "muted" }, "Test the agent on a brief before it calls anyone: it talks, in text, with an AI playing each persona. Each conversation is scored and checked. Nothing is dialled, and simulations use no minutes."),
  field("Product", product),
  field("Context", context),
  h("div", { class: "lead-row" }, field("Goal", goal), field("Language", language), field("Conversations per persona", perPersona), field("Turn cap", maxTurns)),
  linkField,
  personaBox,
  errors,
  submit);

  mount(ctx.main, form, h("section", { class: "card" }, h("h2", {}, "Recent evals"), list));
  void loadPersonas();
  void loadList();
}

export function renderEval(ctx: Ctx, evalId: string): () => void {
  const root = h("div");
  let timer: number | undefined;

  function personaTable(e: Eval): HTMLElement {
    return h("table", { class: "eval-personas" },
      h("caption", { class: "sr-only" }, "Pass rate per persona"),
      h("thead", {}, h("tr", {}, ...["Persona", "Passed", "Pass rate", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...e.personas.map((p) => h("tr", {},
        h("td", {}, p.name),
        h("td", {}, `${p.passed} / ${p.conversations}`, p.errors ? h("span", { class: "small error-text" }, ` (${p.errors} errors)`) : null),
        h("td", {}, h("strong", {}, pct(p.pass_rate))),
        h("td", {}, p.meets_threshold === null ? h("span", { class: "muted" }, `${p.finished}/${p.conversations} done`)
          : h("span", { class: `status ${p.meets_threshold ? "s-completed" : "s-failed"}` }, p.meets_threshold ? "ok" : "below threshold"))))));
  }

  function failures(e: Eval): HTMLElement | null {
    const all = e.personas.flatMap((p) => p.failures.map((f) => ({ ...f, name: p.name })));
    if (!all.length) return null;
    return h("section", { class: "card" }, h("h2", {}, "Why it failed"),
      h("ul", { class: "failures" }, ...all.map((f) => h("li", {},
        h("strong", {}, `${f.name} #${f.index + 1} — ${f.check}: `), f.explanation))));
  }

  function conversations(e: Eval): HTMLElement | null {
    if (!e.conversations?.length) return null;
    const names = Object.fromEntries(e.personas.map((p) => [p.persona, p.name]));
    return h("section", { class: "card" }, h("h2", {}, "Conversations"),
      ...e.conversations.map((c) => h("details", { class: "conversation" },
        h("summary", {}, h("span", { class: `status s-${c.status === "passed" ? "completed" : c.status === "failed" || c.status === "error" ? "failed" : "pending"}` }, c.status),
          ` ${names[c.persona] ?? c.persona} #${c.index + 1} · ${c.turns} turns`, c.end_reason ? ` · ${c.end_reason}` : "",
          c.score?.overall != null ? ` · judge ${c.score.overall}/100` : ""),
        c.error ? errorBox(c.error) : null,
        h("ul", { class: "checks" }, ...c.checks.map((k) => h("li", { class: k.passed ? "ok" : "bad" },
          h("strong", {}, `${k.passed ? "✓" : "✗"} ${k.label}`), h("span", { class: "muted" }, ` — ${k.explanation}`)))),
        c.tool_calls.length ? h("p", { class: "small muted" }, "Tools: ", c.tool_calls.map((t) => `${t.name} (turn ${t.turn})`).join(", ")) : null,
        h("ol", { class: "transcript" }, ...c.transcript.map((t) => h("li", { class: `turn ${t.role === "agent" ? "assistant" : "user"}` },
          h("strong", {}, t.role === "agent" ? "Agent" : "Lead"), ": ", t.text))))));
  }

  async function load(): Promise<void> {
    let e: Eval;
    try {
      e = await api<Eval>("GET", `/v1/evals/${evalId}`);
    } catch (err) {
      mount(root, h("section", { class: "card" }, h("p", {}, h("a", { href: "#/evals" }, "← All evals")), errorBox(err instanceof ApiError ? err.message : String(err))));
      return;
    }
    const done = e.status === "completed" || e.status === "failed";
    mount(root,
      h("section", { class: "card" },
        h("p", {}, h("a", { href: "#/evals" }, "← All evals")),
        h("div", { class: "row" }, h("h1", {}, e.product), verdict(e)),
        h("progress", { max: e.progress.total, value: e.progress.finished, "aria-label": "Conversations finished" }),
        h("p", { class: "muted", "aria-live": "polite" }, `${e.progress.finished} of ${e.progress.total} conversations finished` + (e.progress.running ? ` · ${e.progress.running} running` : "")),
        h("dl", { class: "facts" },
          h("dt", {}, "Goal"), h("dd", {}, e.goal.replace("_", " ")),
          h("dt", {}, "Pass threshold"), h("dd", {}, pct(e.pass_threshold)),
          h("dt", {}, "Turn cap"), h("dd", {}, String(e.max_turns)),
          h("dt", {}, "LLM cost"), h("dd", {}, `${usd(e.usage.llm_cost_usd)} · ${e.usage.input_tokens + e.usage.output_tokens} tokens`),
          h("dt", {}, "Minutes billed"), h("dd", {}, `${e.usage.billed_minutes} (simulations are free; ≈${e.usage.simulated_talk_minutes} min of talk)`),
          h("dt", {}, "Started"), h("dd", {}, fmtDate(e.created_at))),
        e.error ? errorBox(e.error) : null,
        personaTable(e)),
      failures(e),
      conversations(e));
    if (done) window.clearInterval(timer);
  }

  mount(ctx.main, root);
  void load();
  timer = window.setInterval(load, 2000);
  return () => window.clearInterval(timer);
}
