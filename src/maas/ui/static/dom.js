// Building the page: elements from data (never HTML strings, so nothing a model name or an audit
// record holds can run as markup), number and time formats, and the notes that stand in for a
// panel that has nothing to show.

/**
 * h("td", {class: "num", title: "…"}, "12", child, [more, children])
 * Attributes starting with "on" are event listeners; `style` takes an object (set through the
 * DOM, which the Content-Security-Policy allows, unlike style attributes).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "style") {
      for (const [prop, v] of Object.entries(value)) el.style.setProperty(prop, v);
    } else if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function link(href, ...children) {
  return h("a", { href }, ...children);
}

/** A calm box in place of a panel: kind is "info" (nothing yet), "warn" or "error". */
export function note(kind, title, detail) {
  return h(
    "div",
    { class: ["note-box", `note-${kind}`], role: kind === "error" ? "alert" : "status" },
    title ? h("strong", {}, title) : null,
    detail ? h("p", { class: title ? null : "solo" }, detail) : null,
  );
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

const nf = (digits) =>
  new Intl.NumberFormat("en-GB", { maximumSignificantDigits: digits, useGrouping: true });
const NUM4 = nf(4);
const INT = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });

/** 0.98765 → "0.9877"; 12345.6 → "12,346"; null → "–". */
export function num(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Math.abs(value) >= 1000) return INT.format(value);
  return digits === 4 ? NUM4.format(value) : nf(digits).format(value);
}

export function int(value) {
  if (value === null || value === undefined) return "–";
  return INT.format(value);
}

export function pct(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return "–";
  return `${(share * 100).toFixed(digits)} %`;
}

export function withUnit(value, unit, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return `${num(value, digits)} ${unit}`;
}

const DATE = new Intl.DateTimeFormat("en-GB", {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

/** An ISO time from the API (UTC) as local date and time: "3 Mar 2025, 14:05". */
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : DATE.format(d);
}

/** Seconds as "42 s", "3 min 5 s", "1 h 12 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Plain names for the metrics the templates report. */
const METRIC_NAMES = {
  accuracy: "accuracy",
  balanced_accuracy: "balanced accuracy",
  roc_auc: "ROC AUC",
  pr_auc: "PR AUC (average precision)",
  average_precision: "average precision",
  f1: "F1 score",
  f1_macro: "F1 score (mean over classes)",
  macro_f1: "F1 score (mean over classes)",
  n_rows: "rows judged",
  cv_folds: "cross-validation folds",
  coverage_nominal: "interval coverage aimed at",
  precision: "precision",
  recall: "recall (failures caught)",
  threshold: "decision threshold",
  log_loss: "log loss",
  brier: "Brier score",
  mae: "mean absolute error",
  rmse: "root mean squared error",
  r2: "R² (share of variance explained)",
  mape: "mean absolute percentage error",
  mase: "mean absolute scaled error",
  coverage: "interval coverage",
  pinball: "pinball loss",
  nasa_score: "NASA scoring function",
};

export function metricName(key) {
  const base = key.replace(/^baseline_/, "");
  const perClass = base.match(/^([a-z0-9_]+)\.(.+)$/);
  if (perClass) return `${perClass[1].replace(/_/g, " ")} of class “${perClass[2]}”`;
  return METRIC_NAMES[base] || base.replace(/_/g, " ");
}

export function plural(n, one, many) {
  return `${int(n)} ${n === 1 ? one : many || one + "s"}`;
}

/** A table from column specs: [{label, value: row => node|string, num?: bool}]. */
export function table(columns, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: [c.num ? "num" : null, c.cls], scope: "col" }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", {}, columns.map((c) => h("td", { class: [c.num ? "num" : null, c.cls] }, c.value(row)))),
        ),
      ),
    ),
  );
}

export function badge(text, tone) {
  return h("span", { class: ["badge", `badge-${tone}`] }, text);
}
