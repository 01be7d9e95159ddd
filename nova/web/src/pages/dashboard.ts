// The analytics dashboard: GET /v1/analytics by day and goal, drawn with Chart.js (loaded
// on demand), and the account's call-record settings (retention, analysis schema).
import "../records.css";
import { api, ApiError } from "../api";
import { errorBox, field, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

interface Pct { n: number; p50: number | null; p90: number | null; p95: number | null; p99: number | null }
export interface Row {
  key: string;
  calls: number;
  ended: number;
  connected: number;
  connect_rate: number | null;
  failed: number;
  goal_completed: number;
  goal_completion_rate: number | null;
  minutes: number;
  average_quality: number | null;
  interruptions: number;
  outcomes: Record<string, number>;
  latency: Record<"eou_delay_ms" | "llm_ttft_ms" | "tts_ttfb_ms" | "e2e_ms", Pct>;
}
interface Analytics { start: string; end: string; totals: Row; by_day: Row[]; by_goal: Row[] }
interface RecordSettings { retention_days: number; retention_days_custom: boolean; analysis_schema: Record<string, unknown> | null; analysis_schema_version: number; recording_enabled: boolean; recordings_available: boolean }

const GOALS = ["book_meeting", "qualify_interest", "collect_info", "close_sale"];
const pct = (v: number | null) => (v == null ? "—" : `${Math.round(v * 100)}%`);
const msText = (v: number | null) => (v == null ? "—" : `${Math.round(v)} ms`);
const label = (s: string) => s.replace(/_/g, " ");

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

const EXAMPLE_SCHEMA = {
  type: "object",
  properties: {
    budget: { type: "number", description: "Budget the lead named" },
    move_in_date: { type: "string", description: "When the lead wants to move in" },
    decision_maker: { type: "boolean", description: "The lead decides alone" },
    next_step: { type: "string", enum: ["viewing", "callback", "none"] },
  },
};

export function renderDashboard(ctx: Ctx): () => void {
  const charts: { destroy(): void }[] = [];
  const days = h("select", { id: "period" },
    ...[7, 30, 90, 365].map((n) => h("option", { value: String(n), selected: n === 30 }, `Last ${n} days`)));
  const goal = h("select", { id: "goal-filter" }, h("option", { value: "" }, "All goals"),
    ...GOALS.map((g) => h("option", { value: g }, label(g))));
  const errors = h("div", { "aria-live": "assertive" });
  const figures = h("dl", { class: "figures", "aria-label": "Totals for the period" });
  const callsCanvas = h("canvas", { role: "img", "aria-label": "Calls per day, connected or not, with the goal completion rate" });
  const latencyCanvas = h("canvas", { role: "img", "aria-label": "Latency per day: 95th percentile end to end, LLM first token and TTS first byte" });
  const goalsTable = h("tbody");
  const outcomesList = h("ul", { class: "small" });
  const dayTable = h("tbody");

  const settingsBox = h("section", { class: "card", "aria-labelledby": "records-settings" });

  async function load(): Promise<void> {
    mount(errors);
    const end = new Date();
    const start = new Date(end.getTime() - (Number(days.value) - 1) * 86400_000);
    const q = new URLSearchParams({ start: isoDay(start), end: isoDay(end) });
    if (goal.value) q.set("goal", goal.value);
    let a: Analytics;
    try {
      a = await api<Analytics>("GET", `/v1/analytics?${q}`);
    } catch (err) {
      mount(errors, errorBox(err instanceof ApiError ? err.message : String(err)));
      return;
    }
    const t = a.totals;
    const fig = (name: string, value: string, sub = "") => h("div", { class: "figure" }, h("dt", {}, name), h("dd", {}, value, sub ? h("small", {}, sub) : null));
    mount(figures,
      fig("Calls", String(t.calls), `${t.ended} ended`),
      fig("Connect rate", pct(t.connect_rate), `${t.connected} connected`),
      fig("Goal completion", pct(t.goal_completion_rate), `${t.goal_completed} calls`),
      fig("Minutes", t.minutes.toFixed(1)),
      fig("Average quality", t.average_quality == null ? "—" : `${t.average_quality}/100`),
      fig("End-to-end p95", msText(t.latency.e2e_ms.p95), `p50 ${msText(t.latency.e2e_ms.p50)}`));

    mount(goalsTable, ...(a.by_goal.length ? a.by_goal : []).map((r) => h("tr", {},
      h("th", { scope: "row" }, label(r.key)), h("td", { class: "num" }, String(r.calls)), h("td", { class: "num" }, pct(r.connect_rate)),
      h("td", { class: "num" }, pct(r.goal_completion_rate)), h("td", { class: "num" }, r.minutes.toFixed(1)),
      h("td", { class: "num" }, r.average_quality == null ? "—" : String(r.average_quality)),
      h("td", { class: "num" }, msText(r.latency.llm_ttft_ms.p95)), h("td", { class: "num" }, msText(r.latency.e2e_ms.p95)))));
    if (!a.by_goal.length) mount(goalsTable, h("tr", {}, h("td", { colspan: "8", class: "muted" }, "No calls in this period.")));
    const outcomes = Object.entries(t.outcomes).sort((x, y) => y[1] - x[1]);
    mount(outcomesList, ...(outcomes.length ? outcomes.map(([k, v]) => h("li", {}, `${label(k)}: ${v}`)) : [h("li", { class: "muted" }, "None yet.")]));
    mount(dayTable, ...a.by_day.filter((r) => r.calls).map((r) => h("tr", {},
      h("th", { scope: "row" }, r.key), h("td", { class: "num" }, String(r.calls)), h("td", { class: "num" }, String(r.connected)),
      h("td", { class: "num" }, String(r.goal_completed)), h("td", { class: "num" }, msText(r.latency.e2e_ms.p95)))));

    const { drawChart } = await import("../charts");
    charts.splice(0).forEach((c) => c.destroy());
    const labels = a.by_day.map((r) => r.key.slice(5));
    charts.push(drawChart(callsCanvas, labels, [
      { label: "Connected", data: a.by_day.map((r) => r.connected), color: "#2f9e6a" },
      { label: "Not connected", data: a.by_day.map((r) => r.calls - r.connected), color: "#9aa0b8" },
      { label: "Goal completion %", data: a.by_day.map((r) => (r.goal_completion_rate == null ? null : Math.round(r.goal_completion_rate * 100))), kind: "line", axis: "y2" },
    ], { yTitle: "calls", y2Title: "%", stacked: true }));
    charts.push(drawChart(latencyCanvas, labels, [
      { label: "End to end p95", data: a.by_day.map((r) => r.latency.e2e_ms.p95), kind: "line" },
      { label: "LLM first token p95", data: a.by_day.map((r) => r.latency.llm_ttft_ms.p95), kind: "line", color: "#d08a1c" },
      { label: "TTS first byte p95", data: a.by_day.map((r) => r.latency.tts_ttfb_ms.p95), kind: "line", color: "#2f9e6a" },
      { label: "End of utterance p95", data: a.by_day.map((r) => r.latency.eou_delay_ms.p95), kind: "line", color: "#9aa0b8", dashed: true },
    ], { yTitle: "ms" }));
  }

  async function loadSettings(): Promise<void> {
    let s: RecordSettings;
    try {
      s = await api<RecordSettings>("GET", "/v1/records/settings");
    } catch (err) {
      mount(settingsBox, errorBox((err as Error).message));
      return;
    }
    const retention = h("input", { id: "retention-days", type: "number", min: "0", max: "3650", value: String(s.retention_days) });
    const schema = h("textarea", { id: "analysis-schema", rows: 10, spellcheck: "false" });
    schema.value = JSON.stringify(s.analysis_schema ?? EXAMPLE_SCHEMA, null, 2);
    const enabled = h("input", { id: "analysis-on", type: "checkbox", checked: s.analysis_schema !== null });
    const record = h("input", { id: "recording-on", type: "checkbox", checked: s.recording_enabled, disabled: !s.recordings_available && !s.recording_enabled });
    const status = h("div", { "aria-live": "assertive" });
    const save = h("button", { type: "submit", class: "primary" }, "Save");
    const form = h("form", {},
      field("Keep transcripts, analyses and recordings (days, 0 = forever)", retention),
      h("div", { class: "consent" }, record, h("label", { for: "recording-on" }, "Record calls (the agent announces it at the start of each call)")),
      s.recordings_available ? null : h("p", { class: "muted small" }, "Recording needs storage configured on the server (NOVA_RECORDING_S3_*)."),
      h("div", { class: "consent" }, enabled, h("label", { for: "analysis-on" }, "Extract these fields from every call")),
      field("Analysis fields (JSON schema)", schema, "string, number, integer, boolean (with enum) or arrays of strings; at most 30 fields"),
      status, h("div", { class: "actions" }, save));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      mount(status);
      let parsed: unknown = null;
      if (enabled.checked) {
        try {
          parsed = JSON.parse(schema.value);
        } catch {
          mount(status, errorBox("The analysis fields are not valid JSON."));
          return;
        }
      }
      save.setAttribute("disabled", "");
      try {
        const out = await api<RecordSettings>("PUT", "/v1/records/settings", { retention_days: Number(retention.value), analysis_schema: parsed, ...(s.recordings_available ? { recording_enabled: record.checked } : {}) });
        toast(`Saved (schema version ${out.analysis_schema_version}).`);
      } catch (err) {
        mount(status, errorBox((err as Error).message));
      } finally {
        save.removeAttribute("disabled");
      }
    });
    mount(settingsBox, h("h2", { id: "records-settings" }, "Call records"),
      h("p", { class: "muted small" }, "After each call the LLM fills these fields from the transcript (null when the call did not say)."), form);
  }

  days.addEventListener("change", () => void load());
  goal.addEventListener("change", () => void load());
  mount(ctx.main,
    h("section", { class: "card" },
      h("div", { class: "row" }, h("h1", {}, "Dashboard"),
        h("div", { class: "filters" }, field("Period", days), field("Goal", goal))),
      errors, figures),
    h("div", { class: "charts" },
      h("section", { class: "card" }, h("h2", {}, "Calls per day"), h("div", { class: "chart-box" }, callsCanvas)),
      h("section", { class: "card" }, h("h2", {}, "Latency (p95)"), h("div", { class: "chart-box" }, latencyCanvas))),
    h("section", { class: "card" }, h("h2", {}, "By goal"),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ...["Goal", "Calls", "Connect", "Goal done", "Minutes", "Quality", "LLM p95", "E2E p95"].map((c) => h("th", { scope: "col", class: c === "Goal" ? null : "num" }, c)))),
        goalsTable)),
      h("h3", {}, "Outcomes"), outcomesList,
      h("details", {}, h("summary", {}, "Figures per day"), h("table", {},
        h("thead", {}, h("tr", {}, ...["Day", "Calls", "Connected", "Goal done", "E2E p95"].map((c) => h("th", { scope: "col" }, c)))), dayTable))),
    settingsBox);
  void load();
  void loadSettings();
  return () => charts.splice(0).forEach((c) => c.destroy());
}
