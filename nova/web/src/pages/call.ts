import { api, ApiError } from "../api";
import { errorBox, fmtDate, h, mount } from "../dom";
import type { JoinHandle } from "../join";
import type { Ctx } from "../main";
import { statusBadge, type CallRecord } from "./calls";
import { callRecords } from "./records";

interface Brief {
  opening_line: string;
  agent_instructions: string;
  qualification_questions: string[];
  objection_handlers: { objection: string; response: string }[];
  closing_script: string;
  product_facts: string[];
}

interface Quality {
  scored_at: string | null;
  score: { overall?: number; dimensions?: Record<string, { score: number; reason: string }> } | null;
}

export function renderCall(ctx: Ctx, callId: string): () => void {
  const head = h("div");
  const briefBox = h("section", { class: "card" }, h("h2", {}, "Brief"), h("p", { class: "muted" }, "Loading…"));
  const qualityBox = h("section", { class: "card" }, h("h2", {}, "Quality score"));
  const records = callRecords(callId);
  const joinBox = h("section", { class: "card join", "aria-labelledby": "join-title" });
  let handle: JoinHandle | null = null;
  let briefLoaded = false;

  async function load(): Promise<void> {
    let call: CallRecord;
    try {
      call = await api<CallRecord>("GET", `/v1/calls/${callId}`);
    } catch (err) {
      mount(head, errorBox(err instanceof ApiError ? err.message : String(err)));
      return;
    }
    mount(head, h("section", { class: "card" },
      h("p", {}, h("a", { href: "#/calls" }, "← All calls")),
      h("h1", {}, call.lead_name || call.phone),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", {}, statusBadge(call.status)),
        h("dt", {}, "Phone"), h("dd", {}, call.phone),
        h("dt", {}, "Goal"), h("dd", {}, call.goal.replace("_", " ")),
        h("dt", {}, "Mode"), h("dd", {}, call.mode === "demo" ? "Browser demo" : "Phone (SIP)"),
        h("dt", {}, "Outcome"), h("dd", {}, call.outcome ?? "—"),
        h("dt", {}, "Duration"), h("dd", {}, call.duration_seconds != null ? `${call.duration_seconds} s` : "—"),
        h("dt", {}, "Created"), h("dd", {}, fmtDate(call.created_at))),
      call.error ? errorBox(call.error) : null));
    const failed = call.status === "failed";
    const ended = failed || call.status === "completed";
    void records.load(call.status);
    if (!briefLoaded) {
      briefLoaded = true;
      void loadBrief(call.context_id);
    }
    // A finished call cannot be joined (and says so); a live one can, until it ends.
    if (ended && !handle) renderEnded(call);
    else if (!ended && !joinRendered) renderJoin(call);
    if (failed) {
      mount(qualityBox, h("h2", {}, "Quality score"), h("p", { class: "muted" }, "Not scored: the call failed."));
    } else {
      void loadQuality();
    }
  }

  let joinRendered = false;
  let endedRendered = false;
  function renderEnded(call: CallRecord): void {
    if (endedRendered) return;
    endedRendered = true;
    mount(joinBox, h("h2", { id: "join-title" }, "Talk to your agent"),
      h("p", { class: "muted" }, call.status === "failed"
        ? "This call failed, so there is no room to join. Deploy a new batch to try again."
        : "This call has ended."),
      call.status === "failed" ? h("a", { class: "button secondary", href: "#/deploy" }, "Deploy a new batch") : null);
  }

  async function loadBrief(contextId: string): Promise<void> {
    try {
      const b = await api<Brief>("GET", `/contexts/${contextId}`);
      mount(briefBox, h("h2", {}, "Brief"),
        h("h3", {}, "Opening line"), h("blockquote", {}, b.opening_line),
        h("h3", {}, "Qualification questions"), h("ol", {}, ...b.qualification_questions.map((q) => h("li", {}, q))),
        h("h3", {}, "Objection handlers"), h("dl", {}, ...b.objection_handlers.flatMap((o) => [h("dt", {}, o.objection), h("dd", {}, o.response)])),
        h("h3", {}, "Close"), h("p", {}, b.closing_script),
        h("details", {}, h("summary", {}, "Agent instructions and product facts"),
          h("pre", {}, b.agent_instructions), h("ul", {}, ...b.product_facts.map((f) => h("li", {}, f)))));
    } catch (err) {
      const expired = err instanceof ApiError && err.status === 404;
      mount(briefBox, h("h2", {}, "Brief"), h("p", { class: "muted" },
        expired ? "The brief is only kept for 10 minutes after dispatch; it has expired." : String((err as Error).message)));
    }
  }

  async function loadQuality(): Promise<void> {
    try {
      const q = await api<Quality>("GET", `/api/calls/${callId}/quality`);
      if (!q.score) {
        mount(qualityBox, h("h2", {}, "Quality score"), h("p", { class: "muted" }, "Pending: scored after the transcript is saved."));
        return;
      }
      const dims = Object.entries(q.score.dimensions ?? {});
      mount(qualityBox, h("h2", {}, "Quality score"),
        h("p", { class: "score" }, `${q.score.overall ?? "—"}/100`),
        h("ul", {}, ...dims.map(([k, v]) => h("li", {}, `${k.replace(/_/g, " ")}: ${v.score}/5 — ${v.reason}`))),
        h("p", { class: "muted" }, `Scored ${fmtDate(q.scored_at)}`));
    } catch (err) {
      mount(qualityBox, h("h2", {}, "Quality score"), h("p", { class: "muted" }, (err as Error).message));
    }
  }

  function renderJoin(call: CallRecord): void {
    joinRendered = true;
    const statusLine = h("p", { class: "join-status", role: "status", "aria-live": "polite" }, "Not connected.");
    const errors = h("div", { "aria-live": "assertive" });
    const indicator = h("span", { class: "speaking", "aria-hidden": "true" });
    const joinBtn = h("button", { type: "button", class: "primary", id: "join-call" }, "Join call as test caller");
    const muteBtn = h("button", { type: "button", class: "secondary", hidden: true, "aria-pressed": "false" }, "Mute");
    const hangBtn = h("button", { type: "button", class: "danger", hidden: true }, "Hang up");
    const reset = () => {
      handle = null;
      joinBtn.hidden = false;
      muteBtn.hidden = hangBtn.hidden = true;
      indicator.classList.remove("on");
    };
    joinBtn.addEventListener("click", async () => {
      mount(errors);
      joinBtn.setAttribute("disabled", "");
      try {
        // livekit-client is loaded only when someone joins: the rest of the app stays small.
        const { joinCall } = await import("../join");
        handle = await joinCall(call.context_id, {
          onStatus: (s) => (statusLine.textContent = s),
          onSpeaking: (on) => indicator.classList.toggle("on", on),
          onDisconnected: reset,
        });
        joinBtn.hidden = true;
        muteBtn.hidden = hangBtn.hidden = false;
      } catch (err) {
        mount(errors, errorBox((err as Error).message));
        statusLine.textContent = "Not connected.";
      } finally {
        joinBtn.removeAttribute("disabled");
      }
    });
    muteBtn.addEventListener("click", async () => {
      if (!handle) return;
      const muted = await handle.toggleMute();
      muteBtn.textContent = muted ? "Unmute" : "Mute";
      muteBtn.setAttribute("aria-pressed", String(muted));
    });
    hangBtn.addEventListener("click", async () => {
      await handle?.hangUp();
      reset();
      statusLine.textContent = "You left the call.";
    });
    const demo = call.mode === "demo";
    mount(joinBox, h("h2", { id: "join-title" }, "Talk to your agent"),
      h("p", { class: "muted" }, demo
        ? "Join the agent's room from this browser and play the lead. Your microphone is used; nothing is recorded by the browser."
        : "This call dials a phone number; you can still listen in from the browser."),
      h("div", { class: "actions" }, joinBtn, muteBtn, hangBtn, indicator), statusLine, errors);
  }

  mount(ctx.main, head, joinBox, records.analysisBox, briefBox, qualityBox, records.latencyBox, records.recordingBox, records.transcriptBox);
  void load();
  const timer = window.setInterval(load, 4000);
  return () => {
    window.clearInterval(timer);
    void handle?.hangUp();
  };
}
