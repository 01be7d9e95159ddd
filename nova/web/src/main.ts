import "./styles.css";
import { api, auth, type User } from "./api";
import { h, mount } from "./dom";
import { renderAuth } from "./pages/auth";
import { renderCall } from "./pages/call";
import { renderCalls } from "./pages/calls";
import { renderDashboard } from "./pages/dashboard";
import { renderDeploy } from "./pages/deploy";
import { renderUsage } from "./pages/usage";
import { renderWebhooks } from "./pages/webhooks";

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

async function refreshUser(): Promise<User | null> {
  if (!auth.token) {
    currentUser = null;
    return null;
  }
  try {
    currentUser = await api<User>("GET", "/auth/me");
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
    link("#/dashboard", "Dashboard"),
    link("#/usage", "Usage & plan"),
    link("#/webhooks", "Webhooks"),
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
  const path = location.hash.replace(/^#/, "") || "/";
  if (auth.token && !currentUser) await refreshUser();
  const ctx: Ctx = { main, user: currentUser, go, refreshUser };
  const needsAuth = !["/login", "/signup"].includes(path);
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
  else if (path === "/dashboard") cleanup = renderDashboard(ctx);
  else if (path === "/usage") void renderUsage(ctx);
  else if (path === "/webhooks") void renderWebhooks(ctx);
  else mount(main, h("section", { class: "card" }, h("h1", {}, "Page not found"), h("a", { href: "#/deploy" }, "Go to the wizard")));
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", () => void route());
void route();
