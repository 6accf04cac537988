// Drift of one model: are live inputs still like the training data, per feature and over time.

import { ApiError, enc, request, serverHas } from "../api.js";
import { COLORS, epoch, horizontalMarkers, plot } from "../charts.js";
import { badge, clear, h, int, link, note, num, table, when } from "../dom.js";
import { fill, problemNote } from "../panels.js";
import { chooseModel } from "./picker.js";
import { tile } from "./traffic.js";

const STATES = {
  ok: ["Stable", "good", "Live inputs look like the training data."],
  warning: ["Warning", "warn", "Some inputs have moved away from the training data; watch them."],
  alert: ["Alert", "bad", "Inputs have shifted clearly: predictions may no longer be reliable. Consider retraining."],
  no_data: ["No data yet", "plain", "Not enough live predictions since the last check to compare."],
};

function stateBadge(state) {
  const [label, tone] = STATES[state] || [String(state || "unknown"), "plain"];
  return badge(label, tone);
}

export async function driftPage(ctx) {
  const head = h("div", { class: "page-head" }, h("h1", {}, "Input drift"));
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  ctx.root.append(head, body);
  if (!serverHas("/v1/models/{}/drift")) {
    clear(body).append(note("info", "Drift monitoring is not available on this server.", "This version of maas does not check drift yet."));
    return;
  }
  const [name, chooser] = await chooseModel(ctx, "#/drift", ctx.params[0]);
  if (!ctx.alive()) return;
  if (name === null) {
    clear(body).append(note("info", "No models yet.", "Drift is checked once a model serves predictions."));
    return;
  }
  const status = h("div", { class: "inline-status", "aria-live": "polite" });
  const controls = h("div", { class: "head-controls" }, chooser);
  if (ctx.roleAllows("developer") && serverHas("/v1/models/{}/drift/check")) {
    const button = h("button", { type: "button", id: "drift-check" }, "Check now");
    button.addEventListener("click", async () => {
      button.disabled = true;
      clear(status).append(h("span", { class: "muted" }, "Checking…"));
      try {
        await request(`/v1/models/${enc(name)}/drift/check`, { method: "POST" });
        clear(status);
        await load();
      } catch (err) {
        if (!(err instanceof ApiError && err.kind === "signed_out")) clear(status).append(problemNote(err, "the drift check"));
      } finally {
        button.disabled = false;
      }
    });
    controls.append(button);
  }
  head.append(controls);
  const panel = h("section", { class: "panel", id: "drift" });
  clear(body).append(status, panel);

  function load() {
    return fill(ctx, panel, "drift monitoring", async () => driftView(await request(`/v1/models/${enc(name)}/drift`)));
  }
  await load();
}

function driftView(d) {
  const [, , meaning] = STATES[d.state] || [null, null, ""];
  const win = d.window || {};
  const summary = h(
    "div",
    { class: "tiles" },
    h("div", { class: "tile" }, h("div", { class: "tile-label" }, "Overall"), h("div", { class: "tile-value" }, stateBadge(d.state)), h("div", { class: "tile-detail" }, meaning)),
    tile("Checked", when(d.checked_at), d.version ? `against the ${d.reference === "first_logged" ? "first logged inputs" : "training data"} of version ${d.version}` : ""),
    tile("Live rows compared", int(win.rows), win.since ? `since ${when(win.since)}` : ""),
    d.prediction ? h("div", { class: "tile" }, h("div", { class: "tile-label" }, "Predictions"), h("div", { class: "tile-value" }, stateBadge(d.prediction.state)), h("div", { class: "tile-detail" }, `PSI ${num(d.prediction.psi, 3)} between live predictions and ${d.prediction.reference === "first_logged" ? "the version's first logged ones" : "those on its training data"}`)) : null,
  );
  const features = [...(d.features || [])].sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1));
  const hasKs = features.some((f) => typeof f.ks === "number");
  const hasJs = features.some((f) => typeof f.js === "number");
  const hasRows = features.some((f) => typeof f.rows === "number");
  const hasNotes = features.some((f) => f.note);
  const featureTable = features.length
    ? table(
        [
          { label: "Input", value: (f) => h("span", { class: "mono" }, f.name) },
          { label: "State", value: (f) => stateBadge(f.state) },
          { label: "PSI", value: (f) => num(f.psi, 3), num: true },
          hasKs ? { label: "KS", value: (f) => num(f.ks, 3), num: true } : null,
          hasJs ? { label: "JS", value: (f) => num(f.js, 3), num: true } : null,
          hasRows ? { label: "Live rows", value: (f) => int(f.rows), num: true } : null,
          hasNotes ? { label: "Note", value: (f) => h("span", { class: "small" }, f.note || "") } : null,
        ].filter(Boolean),
        features,
        { id: "drift-table" },
      )
    : note("info", "No inputs compared yet.");
  const thresholds = Object.entries(d.thresholds || {}).filter(([, v]) => typeof v === "number");
  return [
    summary,
    d.message ? note("info", null, d.message) : null,
    retrainingNote(d.retraining),
    h("h2", {}, "Per input, latest check"),
    h("p", { class: "muted" }, "PSI (population stability index) compares how live values spread over the training data's ranges: below 0.1 is usually stable, above 0.25 a clear shift."),
    featureTable,
    thresholds.length ? h("p", { class: "muted small" }, "Thresholds on this server: ", thresholds.map(([k, v]) => `${k.replace(/_/g, " ")} ${num(v, 3)}`).join(", "), ".") : null,
    h("h2", {}, "Over time"),
    historyPlot(d.history || [], thresholds),
  ];
}

function retrainingNote(retraining) {
  if (!retraining) return null;
  if (retraining.job) {
    return h("div", { class: ["note-box", "note-info"], role: "status" }, h("strong", {}, "This check started a retraining job."), h("p", {}, "Follow it on the ", link("#/jobs", "Jobs"), " page; the new version replaces the current one only if it scores better."));
  }
  if (retraining.error) return note("warn", "This check could not start a retraining job.", String(retraining.error));
  return null;
}

function historyPlot(history, thresholds) {
  const points = history.map((p) => ({ ...p, x: epoch(p.t) })).filter((p) => p.x !== null).sort((a, b) => a.x - b.x);
  const measured = points.filter((p) => Number.isFinite(p.max_psi));
  if (measured.length === 0) {
    return note("info", "No drift measured yet.", "Each check that has enough live predictions to compare adds a point here.");
  }
  const xs = points.map((p) => p.x);
  // The inputs that moved most at any time, so the chart stays readable.
  const peak = new Map();
  for (const p of points) {
    for (const [name, psi] of Object.entries(p.features || {})) {
      if (typeof psi === "number") peak.set(name, Math.max(peak.get(name) ?? 0, psi));
    }
  }
  const top = [...peak.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([n]) => n);
  const markers = thresholds
    .filter(([k]) => /psi|warn|alert/i.test(k))
    .map(([k, v]) => ({ value: v, label: k.replace(/_/g, " "), color: /alert/i.test(k) ? COLORS.red : COLORS.orange }));
  const few = points.length < 10; // a handful of checks are dots, not lines: make them visible
  const values = points.flatMap((p) => [p.max_psi, ...Object.values(p.features || {})]).filter(Number.isFinite);
  const topY = Math.max(0.05, ...values, ...markers.map((m) => m.value)) * 1.15;
  return plot({
    id: "drift-history",
    yRange: [0, topY],
    // One check alone: an hour either side, so the point does not sit on an empty axis.
    // Checks seconds apart (by hand): five minutes either side, so time ticks do not crowd.
    xRange: xs.length === 1 ? [xs[0] - 3600, xs[0] + 3600] : xs[xs.length - 1] - xs[0] < 600 ? [xs[0] - 300, xs[xs.length - 1] + 300] : undefined,
    title: "Drift per input over time",
    subtitle: "PSI at each check; dashed lines are the warning and alert thresholds",
    xLabel: "time",
    yLabel: "PSI",
    time: true,
    height: 300,
    data: [xs, points.map((p) => p.max_psi ?? null), ...top.map((n) => points.map((p) => (typeof p.features?.[n] === "number" ? p.features[n] : null)))],
    series: [
      { label: "largest", color: COLORS.ink, width: 2.5, points: true, pointSize: few ? 11 : 5 },
      ...top.map((n) => ({ label: n, width: 1.5, points: true, pointSize: few ? 7 : 3 })),
    ],
    draw: markers.length ? horizontalMarkers(markers) : undefined,
  });
}
