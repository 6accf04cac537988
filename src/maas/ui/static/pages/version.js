// One version: lineage, the evaluation report (held-out scores next to the naive baseline,
// stability across seeds, feature importance) and its plots.

import { enc, request } from "../api.js";
import { COLORS, byX, confusionTable, epoch, importanceBars, plot, verticalMarker } from "../charts.js";
import { badge, duration, h, int, link, metricName, note, num, section, table, when } from "../dom.js";
import { problemNote } from "../panels.js";

const HIGHER_IS_BETTER = new Set(["accuracy", "balanced_accuracy", "roc_auc", "pr_auc", "average_precision", "f1", "macro_f1", "f1_macro", "precision", "recall", "r2"]);
const SETUP = new Set(["n_rows", "cv_folds"]); // how the scores were obtained, not scores
const LOWER_IS_BETTER = new Set(["mae", "rmse", "mase", "mape", "log_loss", "brier", "pinball", "nasa_score"]);

export async function versionPage(ctx) {
  const [name, number] = ctx.params;
  ctx.root.append(h("p", { class: "crumbs" }, link("#/models", "Models"), " / ", link(`#/models/${enc(name)}`, name), " / ", `v${number}`));
  let version;
  try {
    version = await request(`/v1/models/${enc(name)}/versions/${number}`);
  } catch (err) {
    if (ctx.alive()) ctx.root.append(h("h1", {}, `${name} v${number}`), problemNote(err, "this version"));
    return;
  }
  if (!ctx.alive()) return;
  const report = version.report;
  ctx.root.append(
    h("div", { class: "page-head" }, h("h1", {}, `${name} `, h("span", { class: "muted" }, `version ${version.version}`)), h("span", { class: "chips" }, version.aliases.map((a) => badge(a, a === "production" ? "good" : "plain")))),
    lineage(version),
  );
  if (!report) {
    const why = version.template
      ? "Only versions trained by a training job carry a report with plots; this one was made another way (the example models, for instance, are trained at first start). The scores it was registered with are below."
      : "It was uploaded rather than trained here, so the server has no held-out data to judge it on. The scores it was registered with are below.";
    const [heldOut, baseline] = splitBaseline(version.metrics || {});
    ctx.root.append(
      section("Evaluation report", note("info", "This version has no evaluation report.", why)),
      Object.keys(heldOut).length ? section("Recorded scores", metricsTable(heldOut, baseline, {})) : null,
      inputsPanel(version),
    );
    return;
  }
  const plots = report.plots || {};
  ctx.root.append(
    report.comparison ? comparisonPanel(name, version.version, report.comparison) : null,
    section(
      "How good is it",
      h("p", { class: "muted" }, "Held-out: scores on rows the model never saw while it was fitted. Baseline: the naive answer anyone gets without a model. Stability: the same training repeated with other random seeds and splits — a large spread means the held-out score was partly luck."),
      metricsTable(report.held_out || {}, report.baseline || {}, report.stability || {}),
    ),
    section(
      "Plots",
      plotGrid(plots),
    ),
    section(
      "Inputs",
      Object.keys(report.feature_importance || {}).length ? importanceBars(report.feature_importance) : note("info", "No feature importance was recorded for this version."),
    ),
    inputsPanel(version),
  );
}

/** A retrained version (the challenger) against the version it had to beat, on the same rows. */
function comparisonPanel(name, number, c) {
  const champion = c.champion || {};
  const challenger = c.challenger || {};
  const held = c.holdout || {};
  const better = (key, mine, theirs) => {
    if (typeof mine !== "number" || typeof theirs !== "number" || mine === theirs) return "";
    const lower = key === c.metric ? c.direction === "lower" : LOWER_IS_BETTER.has(key);
    if (!lower && !HIGHER_IS_BETTER.has(key) && key !== c.metric) return "";
    return (lower ? mine < theirs : mine > theirs) ? badge("better", "good") : badge("worse", "bad");
  };
  const mine = challenger.metrics || {};
  const theirs = champion.metrics || {};
  const keys = Object.keys({ ...theirs, ...mine }).filter((k) => typeof mine[k] === "number" || typeof theirs[k] === "number");
  keys.sort((a, b) => (a === c.metric ? -1 : b === c.metric ? 1 : a.localeCompare(b)));
  const rows = [
    held.kind === "units" ? `${int(held.units)} whole units` : held.kind === "series" ? `the last ${int(held.horizon)} values of ${int(held.series)} series` : `${int(held.rows)} rows`,
    held.new_data_only ? "all of them added after the champion's training data, so neither model saw them" : "partly from the champion's own training data, which favours the champion",
  ];
  return h(
    "section",
    { class: "panel", id: "comparison" },
    h("h2", {}, "Compared with the champion ", badge(c.promoted ? "promoted" : "not promoted", c.promoted ? "good" : "plain")),
    note(
      "info",
      c.promoted ? `Promoted: version ${number} replaced the champion.` : "Not promoted: the champion stayed where it was.",
      String(c.reason || "").replace(/\.?$/, "."),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Champion"),
      h("dd", {}, champion.version ? link(`#/models/${enc(name)}/versions/${champion.version}`, `version ${champion.version}`) : "–", champion.dataset ? ` (trained on ${champion.dataset})` : ""),
      h("dt", {}, "Decided on"),
      h("dd", {}, `${metricName(c.metric)} (${c.direction === "lower" ? "lower" : "higher"} is better)`, c.min_improvement ? `, by more than ${num(c.min_improvement)}` : ""),
      h("dt", {}, "Held-out data"),
      h("dd", {}, `${rows[0]}: ${rows[1]}`, typeof held.fit_rows === "number" ? `; the challenger was fitted on the other ${int(held.fit_rows)} rows` : ""),
    ),
    table(
      [
        { label: "Measure", value: (k) => h("span", { title: k }, metricName(k), k === c.metric ? h("span", { class: "muted small" }, " (decides)") : "") },
        { label: `Champion v${champion.version ?? "?"}`, value: (k) => num(theirs[k]), num: true },
        { label: `This version, v${number}`, value: (k) => h("strong", {}, num(mine[k])), num: true },
        { label: "", value: (k) => better(k, mine[k], theirs[k]) },
      ],
      keys,
      { id: "comparison-table", class: "compact" },
    ),
  );
}

function lineage(v) {
  const report = v.report || {};
  const facts = [
    ["Made", `${when(v.created_at)} by ${v.created_by}`],
    ["How", v.template ? `trained here with the ${v.template.replace(/_/g, " ")} template` : `uploaded as ${v.format.toUpperCase()}`],
    ["Training data", v.source_dataset || "not recorded"],
    report.rows ? ["Rows", int(report.rows)] : null,
    report.train_seconds ? ["Training took", duration(report.train_seconds)] : null,
    ["Artifact", h("span", { class: "mono small", title: v.sha256 }, `${v.format}, ${int(Math.round(v.size / 1024))} KiB, sha256 ${v.sha256.slice(0, 12)}…`)],
    v.description ? ["Description", v.description] : null,
  ].filter(Boolean);
  return h("section", { class: "panel" }, h("dl", { class: "facts" }, facts.map(([k, val]) => [h("dt", {}, k), h("dd", {}, val)])));
}

function verdict(key, value, base) {
  if (typeof value !== "number" || typeof base !== "number") return "";
  if (HIGHER_IS_BETTER.has(key)) return value > base ? badge("better", "good") : badge("not better", "bad");
  if (LOWER_IS_BETTER.has(key)) return value < base ? badge("better", "good") : badge("not better", "bad");
  return "";
}

function splitBaseline(metrics) {
  const heldOut = {};
  const baseline = {};
  for (const [k, v] of Object.entries(metrics)) (k.startsWith("baseline") ? baseline : heldOut)[k] = v;
  return [heldOut, baseline];
}

function metricsTable(heldOut, baseline, stability) {
  // Cell counts of the confusion matrix are shown as the matrix, not as rows of numbers.
  const keys = Object.keys(heldOut).filter((k) => typeof heldOut[k] === "number" && !k.startsWith("confusion.") && !SETUP.has(k));
  if (keys.length === 0) return note("info", "No held-out scores were recorded.");
  const setup = [
    typeof heldOut.n_rows === "number" ? `${int(heldOut.n_rows)} rows judged` : null,
    typeof heldOut.cv_folds === "number" ? `${int(heldOut.cv_folds)} cross-validation folds` : null,
  ].filter(Boolean);
  return [scoresTable(keys, heldOut, baseline, stability), setup.length ? h("p", { class: "muted small" }, `Judged on: ${setup.join(", ")}.`) : null];
}

function scoresTable(keys, heldOut, baseline, stability) {
  return table(
    [
      { label: "Measure", value: (k) => h("span", { title: k }, metricName(k)) },
      { label: "This model (held-out)", value: (k) => h("strong", {}, num(heldOut[k])), num: true },
      { label: "Naive baseline", value: (k) => num(baseline[`baseline_${k}`]), num: true },
      { label: "", value: (k) => verdict(k, heldOut[k], baseline[`baseline_${k}`]) },
      {
        label: "Stability (mean ± std)",
        value: (k) => {
          const s = stability[k];
          if (!s || typeof s.mean !== "number") return "–";
          return h("span", {}, `${num(s.mean)} ± ${num(s.std, 2)}`, h("span", { class: "muted small" }, ` (${s.runs} runs)`));
        },
        num: true,
      },
    ],
    keys,
    { id: "metrics-table" },
  );
}

function inputsPanel(v) {
  const inputs = (v.signature && v.signature.inputs) || [];
  if (inputs.length === 0) return null;
  return h(
    "section",
    { class: "panel" },
    h(
      "details",
      {},
      h("summary", {}, h("strong", {}, `What it takes: ${inputs.length} inputs`), h("span", { class: "muted" }, " — show")),
      table(
        [
          { label: "Input", value: (c) => h("span", { class: "mono" }, c.name) },
          { label: "Type", value: (c) => (c.dtype === "category" ? `one of ${(c.categories || []).join(", ")}` : c.dtype === "float64" ? "number" : c.dtype === "int64" ? "whole number" : c.dtype) },
          { label: "May be empty", value: (c) => (c.nullable ? "yes" : "no") },
        ],
        inputs,
        { class: "compact" },
      ),
    ),
  );
}

/** Every plot the report carries; a note for the ones it does not. */
export function plotGrid(plots) {
  const cards = [];
  if (plots.roc && Array.isArray(plots.roc.fpr)) cards.push(rocPlot(plots.roc));
  if (plots.pr && Array.isArray(plots.pr.recall)) cards.push(prPlot(plots.pr));
  if (plots.confusion && Array.isArray(plots.confusion.labels)) cards.push(confusionTable(plots.confusion));
  if (plots.predicted_vs_true && Array.isArray(plots.predicted_vs_true.true)) cards.push(predictedPlot(plots.predicted_vs_true));
  if (plots.forecast && Array.isArray(plots.forecast.t)) cards.push(forecastPlot(plots.forecast));
  if (plots.scores && Array.isArray(plots.scores.counts)) cards.push(scoresPlot(plots.scores));
  if (cards.length === 0) {
    return note("info", "No plots for this version yet.", "Versions trained before the report carried plots have none; train a new version to get them.");
  }
  return h("div", { class: "chart-grid" }, cards);
}

function rocPlot(roc) {
  const [fpr, tpr] = byX(roc.fpr, roc.tpr);
  return plot({
    id: "roc",
    title: "ROC curve",
    subtitle: `area under the curve ${num(roc.auc, 3)}${roc.positive !== undefined ? `, positive class “${roc.positive}”` : ""}`,
    xLabel: "false alarm rate",
    yLabel: "share of positives caught",
    xRange: [0, 1],
    yRange: [0, 1],
    data: [fpr, tpr, fpr],
    series: [
      { label: "model", color: COLORS.blue, width: 2.5 },
      { label: "chance", color: COLORS.gray, width: 1, dash: [5, 5] },
    ],
  });
}

function prPlot(pr) {
  const [recall, precision] = byX(pr.recall, pr.precision);
  return plot({
    id: "pr",
    title: "Precision and recall",
    subtitle: `average precision ${num(pr.average_precision, 3)}${pr.positive !== undefined ? `, positive class “${pr.positive}”` : ""}`,
    xLabel: "recall: share of positives caught",
    yLabel: "precision: alarms that were right",
    xRange: [0, 1],
    yRange: [0, 1],
    data: [recall, precision],
    series: [{ label: "model", color: COLORS.orange, width: 2.5 }],
  });
}

function predictedPlot(pvt) {
  const [truth, predicted] = byX(pvt.true, pvt.predicted);
  const all = [...truth, ...predicted.filter((v) => Number.isFinite(v))];
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  return plot({
    id: "predicted_vs_true",
    title: "Predicted against true",
    subtitle: `${int(truth.length)} held-out rows; on the grey line the prediction is exact`,
    xLabel: "true value",
    yLabel: "predicted value",
    xRange: [lo, hi],
    yRange: [lo, hi],
    data: [truth, predicted, truth],
    series: [
      { label: "predicted", color: COLORS.blue, line: false, points: true, pointSize: 4 },
      { label: "exact", color: COLORS.gray, width: 1, dash: [5, 5] },
    ],
  });
}

function forecastPlot(fc) {
  const isTime = fc.t.length > 0 && typeof fc.t[0] === "string" && epoch(fc.t[0]) !== null;
  const xs = isTime ? fc.t.map(epoch) : fc.t.map(Number);
  const col = (values) => (Array.isArray(values) ? values.map((v) => (v === undefined ? null : v)) : null);
  const series = [];
  const data = [xs];
  const add = (values, spec) => {
    if (!values) return -1;
    data.push(values);
    series.push(spec);
    return data.length - 1;
  };
  const lowerPct = Math.round((fc.lower_level ?? 0.1) * 100);
  const upperPct = Math.round((fc.upper_level ?? 0.9) * 100);
  add(col(fc.history), { label: "history", color: COLORS.gray, width: 1.5 });
  add(col(fc.actual), { label: "actual", color: COLORS.ink, width: 1.5, points: true, pointSize: 4 });
  const upper = add(col(fc.upper), { label: `P${upperPct}`, color: "#93c5fd", width: 1 });
  const lower = add(col(fc.lower), { label: `P${lowerPct}`, color: "#93c5fd", width: 1 });
  add(col(fc.median), { label: "forecast (P50)", color: COLORS.blue, width: 2.5 });
  return plot({
    id: "forecast",
    title: "Forecast with its band",
    subtitle: `series ${fc.series ?? ""}: P${lowerPct}–P${upperPct} band, ${upperPct - lowerPct} % of outcomes expected inside`,
    xLabel: isTime ? "time" : "step",
    yLabel: "value",
    time: isTime,
    data,
    series,
    bands: upper > 0 && lower > 0 ? [{ series: [upper, lower], fill: "rgba(37, 99, 235, 0.14)" }] : undefined,
  });
}

function scoresPlot(scores) {
  const edges = scores.bins || [];
  const counts = scores.counts || [];
  const centres = counts.map((_, i) => (Number(edges[i]) + Number(edges[i + 1] ?? edges[i])) / 2);
  const data = [centres, counts];
  const series = [{ label: "rows", color: COLORS.blue, bars: true, fill: "rgba(37, 99, 235, 0.35)", width: 1 }];
  if (Array.isArray(scores.counts_anomalous)) {
    data.push(scores.counts_anomalous);
    series.push({ label: "of which labelled anomalous", color: COLORS.red, bars: true, fill: "rgba(220, 38, 38, 0.45)", width: 1 });
  }
  const lo = Number(edges[0]);
  const hi = Number(edges[edges.length - 1]);
  return plot({
    id: "scores",
    title: "Score distribution",
    subtitle: `rows by score; at or above the threshold (${num(scores.threshold, 3)}) a row is flagged`,
    xLabel: "score",
    yLabel: "rows",
    xRange: Number.isFinite(lo) && Number.isFinite(hi) && hi > lo ? [lo, hi] : undefined,
    data,
    series,
    draw: Number.isFinite(scores.threshold) ? verticalMarker(scores.threshold, "threshold") : undefined,
  });
}
