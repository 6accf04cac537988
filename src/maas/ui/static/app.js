// The dashboard's shell: signing in with an API key, the page menu, and hash routing to pages.

import { ApiError, currentKey, forgetKey, loadRoutes, request, storeKey, whenSignedOut } from "./api.js";
import { disposeCharts } from "./charts.js";
import { clear, h, note } from "./dom.js";
import { problemNote, roleNote } from "./panels.js";
import { auditPage } from "./pages/audit.js";
import { driftPage } from "./pages/drift.js";
import { jobsPage } from "./pages/jobs.js";
import { modelPage } from "./pages/model.js";
import { modelsPage } from "./pages/models.js";
import { trafficPage } from "./pages/traffic.js";
import { versionPage } from "./pages/version.js";

const ROLE_RANK = { consumer: 0, viewer: 1, developer: 2, admin: 3 };

/** The signed-in session: who the key is. Nothing read with one key outlives it. */
const session = { info: null };

const PAGES = [
  { pattern: /^#\/models\/([^/]+)\/versions\/(\d+)$/, render: versionPage, needs: "viewer", menu: "models" },
  { pattern: /^#\/models\/([^/]+)$/, render: modelPage, needs: "viewer", menu: "models" },
  { pattern: /^#\/models$/, render: modelsPage, needs: "viewer", menu: "models" },
  { pattern: /^#\/traffic(?:\/([^/]+))?$/, render: trafficPage, needs: "viewer", menu: "traffic" },
  { pattern: /^#\/drift(?:\/([^/]+))?$/, render: driftPage, needs: "viewer", menu: "drift" },
  { pattern: /^#\/jobs$/, render: jobsPage, needs: "viewer", menu: "jobs" },
  { pattern: /^#\/audit$/, render: auditPage, needs: "admin", menu: "audit" },
];

const MENU = [
  { id: "models", label: "Models", href: "#/models", needs: "viewer" },
  { id: "traffic", label: "Traffic", href: "#/traffic", needs: "viewer" },
  { id: "drift", label: "Drift", href: "#/drift", needs: "viewer" },
  { id: "jobs", label: "Jobs", href: "#/jobs", needs: "viewer" },
  { id: "audit", label: "Audit log", href: "#/audit", needs: "admin" },
];

let leave = () => {}; // stops the timers of the page on screen
let generation = 0; // bumps on every navigation, so late answers for a left page are dropped

const main = () => document.getElementById("main");

function roleAllows(needed) {
  const role = session.info ? session.info.role : null;
  return role !== null && (ROLE_RANK[role] ?? -1) >= ROLE_RANK[needed];
}

function roleName() {
  return session.info ? session.info.role : "unknown";
}

// ---- signing in and out ------------------------------------------------------------------

function signInScreen(message) {
  leavePage();
  session.info = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "maas_…",
    required: true,
  });
  const status = h("div", { id: "signin-status", "aria-live": "polite" }, message ? note("warn", message.title, message.detail) : null);
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) {
          clear(status).append(note("warn", "Paste an API key first.", null));
          return;
        }
        button.disabled = true;
        clear(status).append(h("p", { class: "muted" }, "Checking the key…"));
        try {
          const info = await request("/v1/info", { key });
          storeKey(key);
          session.info = info;
          showShell();
          if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = "#/models";
          else route();
        } catch (err) {
          button.disabled = false;
          clear(status).append(signInProblem(err));
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API key of this server. Its tenant and role decide what you see: a viewer key shows models, reports, traffic, drift and jobs; an admin key also shows the audit log."),
    h("label", { for: "api-key" }, "API key"),
    input,
    button,
    status,
    h("p", { class: "muted small" }, "The key stays in this browser tab only and is sent to this server with each request. Closing the tab signs you out."),
  );
  clear(main()).append(h("div", { class: "signin-wrap" }, form));
  input.focus();
}

function signInProblem(err) {
  if (err instanceof ApiError && err.kind === "signed_out") {
    return note("warn", "This key was not accepted.", "It is unknown, revoked or expired. Ask an administrator for a valid key.");
  }
  if (err instanceof ApiError && err.kind === "busy") {
    return note("warn", "Too many attempts.", "Wait a few seconds, then try again.");
  }
  if (err instanceof ApiError && err.kind === "offline") {
    return note("error", "The server did not answer.", "Check the network and that maas is running.");
  }
  return note("error", "Signing in failed.", err.message || String(err));
}

function signOut(message) {
  forgetKey();
  signInScreen(message);
}

whenSignedOut(() =>
  signOut({
    title: "Your session has ended.",
    detail: "The server no longer accepts this key: it was revoked or has expired. Sign in with a valid key.",
  }),
);

function showShell() {
  const nav = clear(document.getElementById("nav"));
  for (const item of MENU) {
    if (!roleAllows(item.needs)) continue;
    nav.append(h("a", { href: item.href, "data-menu": item.id }, item.label));
  }
  nav.hidden = false;
  const who = clear(document.getElementById("who"));
  who.append(
    h("span", { class: "who-tenant", title: "tenant" }, session.info.tenant),
    h("span", { class: "who-role", title: "role of this key" }, session.info.role),
    h("button", { type: "button", class: "link", id: "sign-out", onclick: () => signOut({ title: "Signed out.", detail: null }) }, "Sign out"),
  );
  who.hidden = false;
}

// ---- routing ---------------------------------------------------------------------------------

function leavePage() {
  generation += 1;
  leave();
  leave = () => {};
  disposeCharts();
}

function route() {
  if (!session.info) return;
  leavePage();
  const hash = location.hash || "#/models";
  const page = PAGES.find((p) => p.pattern.test(hash));
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", page !== undefined && a.dataset.menu === page.menu);
  }
  const root = clear(main());
  if (!page) {
    root.append(note("warn", "There is no such page.", "Use the menu above."));
    return;
  }
  if (!roleAllows(page.needs)) {
    root.append(roleNote(roleName(), page.needs));
    return;
  }
  const params = hash.match(page.pattern).slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
  const mine = generation;
  const ctx = {
    root,
    params,
    roleAllows,
    role: roleName(),
    alive: () => mine === generation,
    onLeave: (fn) => {
      const before = leave;
      leave = () => {
        before();
        fn();
      };
    },
  };
  Promise.resolve()
    .then(() => page.render(ctx))
    .catch((err) => {
      if (!ctx.alive()) return;
      if (err instanceof ApiError && err.kind === "signed_out") return; // already on the sign-in screen
      root.append(problemNote(err, "this page"));
      if (!(err instanceof ApiError)) console.error(err); // a bug in the dashboard itself
    });
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  window.addEventListener("hashchange", route);
  await loadRoutes();
  const key = currentKey();
  if (!key) {
    signInScreen(null);
    return;
  }
  try {
    session.info = await request("/v1/info");
  } catch (err) {
    if (err instanceof ApiError && err.kind === "signed_out") return; // the sign-in screen says why
    forgetKey();
    signInScreen({ title: "Could not check your key.", detail: err.message });
    return;
  }
  showShell();
  route();
}

start();
