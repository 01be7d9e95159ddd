import "./styles.css";
import { api, auth, type User } from "./api";
import { h, mount } from "./dom";
import { renderAuth, renderForgot, renderReset } from "./pages/auth";
import { renderCall } from "./pages/call";
import { renderCalls } from "./pages/calls";
import { renderEval, renderEvals } from "./pages/evals";
import { renderDashboard } from "./pages/dashboard";
import { renderDeploy } from "./pages/deploy";
import { renderTransfer } from "./pages/transfer";
import { renderUsage } from "./pages/usage";
import { renderWebhooks } from "./pages/webhooks";
import { renderPortals } from "./pages/portals";
import { renderDoNotCall } from "./pages/donotcall";
import { renderReferrals } from "./pages/referrals";
import { renderVoice } from "./pages/voice";
import { renderTwilio } from "./pages/twilio";
import type { Features } from "./api";

export interface Ctx {
  main: HTMLElement;
  user: User | null;
  go: (hash: string) => void;
  refreshUser: () => Promise<User | null>;
}

const main = document.getElementById("main") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;
let currentUser: User | null = null;
let cleanup: (() => void) | null = null;
let features: Features | null = null;
const PUBLIC_PATHS = ["/login", "/signup", "/forgot", "/reset"];

async function refreshUser(): Promise<User | null> {
  if (!auth.token) {
    currentUser = null;
    return null;
  }
  try {
    currentUser = await api<User>("GET", "/auth/me");
    features = await api<Features>("GET", "/me/features").catch(() => null);
  } catch {
    currentUser = null;
  }
  return currentUser;
}

function go(hash: string): void {
  if (location.hash === hash) void route();
  else location.hash = hash;
}

function renderNav(): void {
  const link = (hash: string, label: string) =>
    h("a", { href: hash, "aria-current": location.hash.startsWith(hash) ? "page" : null }, label);
  if (!currentUser) {
    mount(nav, link("#/login", "Log in"), link("#/signup", "Sign up"));
    return;
  }
  const trial = currentUser.trial_active
    ? h("span", { class: "pill", title: "Trial minutes remaining" }, `Trial · ${currentUser.trial_minutes_remaining} min`)
    : null;
  mount(
    nav,
    link("#/deploy", "Deploy agent"),
    link("#/calls", "Calls"),
    link("#/evals", "Simulations"),
    link("#/dashboard", "Dashboard"),
    link("#/usage", "Usage & plan"),
    link("#/webhooks", "Webhooks"),
    link("#/transfer", "Transfer"),
    link("#/portals", "Portals"),
    link("#/do-not-call", "Do-not-call"),
    link("#/referrals", "Referrals"),
    features?.voice_cloning ? link("#/voice", "Voice") : null,
    features?.byo_twilio ? link("#/twilio", "Twilio") : null,
    trial,
    h("button", {
      class: "link",
      type: "button",
      onclick: () => {
        auth.clear();
        currentUser = null;
        go("#/login");
      },
    }, "Log out"),
  );
}

async function route(): Promise<void> {
  cleanup?.();
  cleanup = null;
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  if (auth.token && !currentUser) await refreshUser();
  const ctx: Ctx = { main, user: currentUser, go, refreshUser };
  const needsAuth = !PUBLIC_PATHS.includes(path);
  if (needsAuth && !currentUser) {
    renderNav();
    return go("#/login");
  }
  renderNav();
  const callMatch = path.match(/^\/calls\/([\w-]+)$/);
  if (path === "/login" || path === "/signup") renderAuth(ctx, path === "/signup" ? "signup" : "login");
  else if (path === "/" || path === "/deploy") renderDeploy(ctx);
  else if (path === "/calls") cleanup = renderCalls(ctx);
  else if (callMatch) cleanup = renderCall(ctx, callMatch[1]);
  else if (path === "/evals") renderEvals(ctx);
  else if (/^\/evals\/[\w-]+$/.test(path)) cleanup = renderEval(ctx, path.slice("/evals/".length));
  else if (path === "/dashboard") cleanup = renderDashboard(ctx);
  else if (path === "/usage") void renderUsage(ctx);
  else if (path === "/webhooks") void renderWebhooks(ctx);
  else if (path === "/transfer") void renderTransfer(ctx);
  else if (path === "/forgot") renderForgot(ctx);
  else if (path === "/reset") renderReset(ctx);
  else if (path === "/portals") cleanup = renderPortals(ctx);
  else if (path === "/do-not-call") void renderDoNotCall(ctx);
  else if (path === "/referrals") void renderReferrals(ctx);
  else if (path === "/voice") cleanup = renderVoice(ctx);
  else if (path === "/twilio") void renderTwilio(ctx);
  else mount(main, h("section", { class: "card" }, h("h1", {}, "Page not found"), h("a", { href: "#/deploy" }, "Go to the wizard")));
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", () => void route());
// "Skip to content" moves focus to the page itself, not through the hash router.
document.querySelector<HTMLAnchorElement>("a.skip")?.addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
  main.scrollIntoView();
});
void route();
