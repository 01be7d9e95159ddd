// The call page's records: the transcript (offsets, interruptions), per-call latency and
// the post-call analysis. Each box refreshes itself while the call page polls.
import "../records.css";
import { api } from "../api";
import { fmtDate, h, mount } from "../dom";

export interface Turn {
  index: number;
  speaker: "agent" | "lead";
  text: string;
  start: number | null;
  end: number | null;
  interrupted: boolean;
}

interface Transcript {
  state: "pending" | "available" | "expired";
  turns: Turn[];
  interruptions: number;
  retained_until: string | null;
}

interface Summary { n: number; p50: number | null; p95: number | null; max: number | null }

interface Latency {
  state: "pending" | "available";
  turns: number;
  interruptions: number;
  eou_delay_ms: Summary;
  llm_ttft_ms: Summary;
  tts_ttfb_ms: Summary;
  e2e_ms: Summary;
}

interface Analysis {
  status: "not_configured" | "pending" | "done" | "failed" | "expired";
  outcome: string | null;
  data: Record<string, unknown> | null;
  analyzed_at: string | null;
  error: string | null;
}

interface Recording {
  status: "not_recorded" | "starting" | "active" | "ready" | "failed" | "deleted";
  url: string | null;
  expires_at: string | null;
  duration_seconds: number | null;
  error: string | null;
}

export function clockTime(seconds: number | null): string {
  if (seconds == null) return "";
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

const ms = (v: number | null | undefined) => (v == null ? "—" : `${Math.round(v)} ms`);
const label = (key: string) => key.replace(/_/g, " ");

function show(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.join(", ") || "—";
  if (typeof value === "number") return value.toLocaleString();
  return String(value);
}

export function callRecords(callId: string) {
  const transcriptBox = h("section", { class: "card", "aria-labelledby": "transcript-title" },
    h("h2", { id: "transcript-title" }, "Transcript"));
  const latencyBox = h("section", { class: "card" }, h("h2", {}, "Latency"));
  const analysisBox = h("section", { class: "card" }, h("h2", {}, "Analysis"));
  // Only shown for recorded calls. The file is on the storage's own origin: a download
  // link (navigation) rather than an <audio> element, which the CSP keeps same-origin.
  const recordingBox = h("section", { class: "card", hidden: true }, h("h2", {}, "Recording"));

  async function loadRecording(): Promise<void> {
    const r = await api<Recording>("GET", `/v1/calls/${callId}/recording`);
    recordingBox.hidden = r.status === "not_recorded";
    if (recordingBox.hidden) return;
    const title = h("h2", {}, "Recording");
    if (r.status === "ready" && r.url) {
      const del = h("button", { type: "button", class: "secondary" }, "Delete recording");
      del.addEventListener("click", async () => {
        if (!window.confirm("Delete this recording from storage? This cannot be undone.")) return;
        await api("DELETE", `/v1/calls/${callId}/recording`);
        void loadRecording();
      });
      mount(recordingBox, title,
        h("p", {}, r.duration_seconds != null ? `${clockTime(r.duration_seconds)} of audio. ` : "",
          h("span", { class: "muted small" }, `The link works until ${fmtDate(r.expires_at)}.`)),
        h("div", { class: "actions" }, h("a", { class: "button primary", href: r.url, rel: "noopener noreferrer" }, "Download (OGG)"), del));
      return;
    }
    const text: Record<Recording["status"], string> = {
      not_recorded: "",
      starting: "Recording is starting.",
      active: "Recording…",
      ready: "",
      failed: `The recording failed: ${r.error ?? "unknown error"}`,
      deleted: "The recording was deleted.",
    };
    mount(recordingBox, title, h("p", { class: "muted" }, text[r.status]));
  }

  async function loadTranscript(status?: string): Promise<void> {
    const t = await api<Transcript>("GET", `/v1/calls/${callId}/transcript`);
    const title = h("h2", { id: "transcript-title" }, "Transcript");
    if (t.state !== "available") {
      mount(transcriptBox, title, h("p", { class: "muted" }, t.state === "expired"
        ? "Deleted after your account's retention period."
        : status === "failed" ? "No transcript: the call failed before anyone spoke."
        : status === "completed" ? "No transcript was recorded for this call."
        : "Available when the call ends."));
      return;
    }
    mount(transcriptBox, title,
      h("p", { class: "muted small" }, `${t.turns.length} turns · ${t.interruptions} interruption${t.interruptions === 1 ? "" : "s"}`,
        t.retained_until ? ` · kept until ${fmtDate(t.retained_until)}` : ""),
      h("ol", { class: "turns" }, ...t.turns.map((turn) =>
        h("li", { class: turn.speaker },
          h("span", { class: "when" }, turn.start != null ? `${clockTime(turn.start)}${turn.end != null ? `–${clockTime(turn.end)}` : ""}` : ""),
          h("span", {}, h("span", { class: "who" }, turn.speaker === "agent" ? "Agent" : "Lead"), turn.text,
            turn.interrupted ? h("span", { class: "cut", title: "The lead spoke over the agent" }, "interrupted") : null)))));
  }

  async function loadLatency(): Promise<void> {
    const l = await api<Latency>("GET", `/v1/calls/${callId}/latency`);
    if (l.state !== "available") {
      mount(latencyBox, h("h2", {}, "Latency"), h("p", { class: "muted" }, "Reported by the agent when the call ends."));
      return;
    }
    const fig = (name: string, s: Summary, hint: string) =>
      h("div", { class: "figure", title: hint }, h("dt", {}, name),
        h("dd", {}, ms(s.p50), h("small", {}, `p95 ${ms(s.p95)} · ${s.n} turns`)));
    mount(latencyBox, h("h2", {}, "Latency"),
      h("dl", { class: "figures" },
        fig("End of utterance", l.eou_delay_ms, "From the end of the lead's speech to the decision that their turn ended"),
        fig("LLM first token", l.llm_ttft_ms, "Time to the model's first token"),
        fig("TTS first byte", l.tts_ttfb_ms, "Time to the first audio from speech synthesis"),
        fig("End to end", l.e2e_ms, "From the end of the lead's speech to the agent's first audio")),
      h("p", { class: "muted small" }, `Median per call, with the 95th percentile. ${l.interruptions} interruption${l.interruptions === 1 ? "" : "s"}.`));
  }

  async function loadAnalysis(): Promise<void> {
    const a = await api<Analysis>("GET", `/v1/calls/${callId}/analysis`);
    const title = h("h2", {}, "Analysis");
    const outcome = h("p", {}, h("strong", {}, "Disposition: "), a.outcome ? label(a.outcome) : "—");
    if (a.status === "done" && a.data) {
      mount(analysisBox, title, outcome,
        h("dl", { class: "facts" }, ...Object.entries(a.data).flatMap(([k, v]) => [h("dt", {}, label(k)), h("dd", {}, show(v))])),
        h("p", { class: "muted small" }, `Extracted ${fmtDate(a.analyzed_at)}`));
      return;
    }
    const why: Record<Analysis["status"], string> = {
      not_configured: "No fields to extract: set an analysis schema on the dashboard.",
      pending: "Extracted from the transcript after the call.",
      failed: `Could not be extracted: ${a.error ?? "unknown error"}`,
      expired: "Deleted after your account's retention period.",
      done: "",
    };
    mount(analysisBox, title, outcome, h("p", { class: "muted" }, why[a.status]));
  }

  async function load(status?: string): Promise<void> {
    await Promise.allSettled([loadTranscript(status), loadLatency(), loadAnalysis(), loadRecording()]);
  }

  return { transcriptBox, latencyBox, analysisBox, recordingBox, load };
}
