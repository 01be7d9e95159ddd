import { api, auth, detailText, errorMessage, upload } from "../api";
import { errorBox, field, fmtDate, h, mount, toast } from "../dom";
import type { Ctx } from "../main";

interface Consent {
  version: string;
  text: string;
  signed_version: string | null;
  signed_at: string | null;
}

interface Profile {
  id: string;
  name: string;
  status: "processing" | "ready" | "failed" | "revoked" | string;
  active: boolean;
  error: string | null;
  created_at: string;
  ready_at: string | null;
}

const MAX_AUDIO_BYTES = 16 * 1024 * 1024;

export function renderVoice(ctx: Ctx): () => void {
  const consentBox = h("section", { class: "card" }, h("h1", {}, "Your voice"), h("p", { class: "muted" }, "Loading…"));
  const uploadBox = h("section", { class: "card" });
  const profilesBox = h("section", { class: "card" });
  let timer: number | undefined;
  let previewUrl: string | null = null;
  mount(ctx.main, consentBox, uploadBox, profilesBox);

  async function load(): Promise<void> {
    let consent: Consent;
    try {
      consent = await api<Consent>("GET", "/voice/consent");
    } catch (err) {
      mount(consentBox, h("h1", {}, "Your voice"), errorBox(errorMessage(err)));
      return;
    }
    renderConsent(consent);
    renderUpload(consent.signed_version === consent.version);
    await loadProfiles();
  }

  function renderConsent(c: Consent): void {
    const current = c.signed_version === c.version;
    const name = h("input", { name: "typed_name", autocomplete: "name", maxlength: 200 });
    const errors = h("div", { "aria-live": "assertive" });
    mount(consentBox, h("h1", {}, "Your voice"),
      h("p", { class: "muted" }, "Clone your own voice for your agent's calls. First you sign the consent below, then you upload a recording of yourself."),
      h("h2", {}, "1 · Consent"),
      h("div", { class: "consent-text", tabindex: 0, "aria-label": "Consent text" }, c.text),
      current
        ? h("p", { class: "ok-text", id: "consent-status" }, `Signed on ${fmtDate(c.signed_at)} (version ${c.version}).`)
        : h("form", {
            class: "inline-form",
            novalidate: true,
            onsubmit: async (ev: Event) => {
              ev.preventDefault();
              mount(errors);
              if (name.value.trim().split(/\s+/).join(" ").length < 2) return mount(errors, errorBox("Type your full name to sign."));
              try {
                await api("POST", "/voice/consent", { version: c.version, typed_name: name.value.trim() });
                toast("Consent signed.");
                await load();
              } catch (err) {
                mount(errors, errorBox(errorMessage(err)));
              }
            },
          },
          c.signed_version ? h("p", { class: "small" }, "The consent text changed since you signed it: please read and sign it again.") : null,
          field("Type your full name to sign", name),
          h("button", { type: "submit", class: "primary" }, "Sign consent")),
      errors);
  }

  function renderUpload(signed: boolean): void {
    const file = h("input", { type: "file", name: "audio", accept: "audio/*,.wav,.mp3,.m4a,.ogg,.webm,.flac" });
    const name = h("input", { name: "name", maxlength: 100, placeholder: "My voice" });
    const bar = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
    const progressText = h("p", { class: "small muted", "aria-live": "polite" });
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary", disabled: !signed }, "Upload recording");
    mount(uploadBox, h("h2", {}, "2 · Recording"),
      h("p", { class: "muted" }, "One to three minutes of you speaking naturally, alone, without music: wav, mp3, m4a, ogg, webm or flac, up to 16 MB. One upload per 24 hours."),
      signed ? null : h("p", { class: "small" }, "Sign the consent first."),
      h("form", {
        novalidate: true,
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          mount(errors);
          const f = file.files?.[0];
          if (!f) return mount(errors, errorBox("Choose a recording first."));
          if (f.size > MAX_AUDIO_BYTES) return mount(errors, errorBox(`That file is ${(f.size / 1048576).toFixed(1)} MB: the limit is 16 MB.`));
          const form = new FormData();
          form.append("audio", f);
          if (name.value.trim()) form.append("name", name.value.trim());
          submit.setAttribute("disabled", "");
          bar.hidden = false;
          bar.value = 0;
          try {
            await upload<{ profile_id: string }>("/voice/enroll", form, (fraction) => {
              bar.value = Math.round(fraction * 100);
              progressText.textContent = `Uploading… ${bar.value}%`;
            });
            progressText.textContent = "Uploaded. Your voice is being cloned: this takes a minute or two.";
            file.value = "";
            await loadProfiles();
          } catch (err) {
            progressText.textContent = "";
            mount(errors, errorBox(errorMessage(err)));
          } finally {
            bar.hidden = true;
            submit.removeAttribute("disabled");
          }
        },
      }, field("Recording", file), field("Name (optional)", name), bar, progressText, errors, submit));
  }

  async function loadProfiles(): Promise<void> {
    window.clearTimeout(timer);
    let items: Profile[];
    try {
      items = (await api<{ profiles: Profile[] }>("GET", "/voice/profiles")).profiles;
    } catch (err) {
      mount(profilesBox, h("h2", {}, "3 · Your cloned voices"), errorBox(errorMessage(err)));
      return;
    }
    mount(profilesBox, h("h2", {}, "3 · Your cloned voices"),
      items.length ? h("div", {}, ...items.map(renderProfile)) : h("p", { class: "muted" }, "None yet."));
    // Cloning runs in the background: look again while one is still processing.
    if (items.some((p) => p.status === "processing")) timer = window.setTimeout(() => void loadProfiles(), 3000);
  }

  function renderProfile(p: Profile): HTMLElement {
    const errors = h("div", { "aria-live": "assertive" });
    const text = h("input", { name: "preview", maxlength: 300, value: "Hi, this is a short test of my cloned voice.", "aria-label": `Preview text for ${p.name}` });
    const player = h("div");
    const badge = p.status === "ready" ? "s-completed" : p.status === "failed" ? "s-failed" : "s-pending";
    return h("article", { class: "hook", "data-profile": p.id },
      h("div", { class: "row" }, h("strong", {}, p.name),
        h("span", {}, h("span", { class: `status ${badge}` }, p.status), p.active ? h("span", { class: "pill" }, "Used for your calls") : null)),
      h("p", { class: "small muted" }, `Uploaded ${fmtDate(p.created_at)}`, p.ready_at ? ` · ready ${fmtDate(p.ready_at)}` : ""),
      p.error ? errorBox(p.error) : null,
      p.status === "ready" ? h("div", { class: "inline-form" }, text,
        h("button", { type: "button", class: "secondary", onclick: async () => {
          mount(errors);
          try {
            const res = await fetch(`/voice/preview/${p.id}`, {
              method: "POST",
              headers: { "Content-Type": "application/json", Authorization: `Bearer ${auth.token}` },
              body: JSON.stringify({ text: text.value }),
            });
            if (!res.ok) {
              const body = await res.json().catch(() => null);
              throw new Error(detailText(body?.detail, res.status));
            }
            if (previewUrl) URL.revokeObjectURL(previewUrl);
            previewUrl = URL.createObjectURL(await res.blob());
            mount(player, h("audio", { controls: true, src: previewUrl, "aria-label": `Preview of ${p.name}` }));
          } catch (err) {
            mount(errors, errorBox(errorMessage(err)));
          }
        } }, "Preview")) : null,
      player,
      h("div", { class: "actions" },
        p.status === "ready" && !p.active ? h("button", { type: "button", class: "primary", onclick: async () => {
          try {
            await api("POST", `/voice/activate/${p.id}`);
            toast(`Your agent now speaks with "${p.name}".`);
          } catch (err) { mount(errors, errorBox(errorMessage(err))); return; }
          await loadProfiles();
        } }, "Use for my calls") : null,
        h("button", { type: "button", class: "link", "aria-label": `Delete ${p.name}`, onclick: async () => {
          if (!confirm(`Delete "${p.name}"? The cloned voice is deleted at the provider too.`)) return;
          try {
            await api("DELETE", `/voice/${p.id}`);
            toast("Voice deleted.");
          } catch (err) { mount(errors, errorBox(errorMessage(err))); return; }
          await loadProfiles();
        } }, "Delete")),
      errors);
  }

  void load();
  return () => {
    window.clearTimeout(timer);
    if (previewUrl) URL.revokeObjectURL(previewUrl);
  };
}
