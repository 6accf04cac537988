// Charts: line, point, band and bar plots drawn by the vendored uPlot, plus the two that read
// better as HTML (the confusion matrix as a shaded table, feature importance as bars).

import { h, int, note, num, pct, when } from "./dom.js";

export const COLORS = {
  blue: "#2563eb",
  orange: "#d97706",
  green: "#059669",
  red: "#dc2626",
  purple: "#7c3aed",
  teal: "#0891b2",
  pink: "#db2777",
  gray: "#6b7280",
  ink: "#1f2937",
};
const CYCLE = [COLORS.blue, COLORS.orange, COLORS.green, COLORS.purple, COLORS.teal, COLORS.pink, COLORS.red];

// Time axis labels in 24-hour local time, the day under the first tick of each day:
// [tick step (s), label, label at a new year, _, at a new day, _, _, _, mode] (uPlot's format).
const TIME_TICKS = [
  [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
  [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600 * 24, "{D} {MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
  [60, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
  [1, "{HH}:{mm}:{ss}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
];

const live = new Set(); // ResizeObservers and uPlot instances of the page on screen

/** Destroy every chart of the page being left. */
export function disposeCharts() {
  for (const item of live) item.disconnect ? item.disconnect() : item.destroy();
  live.clear();
}

/**
 * A uPlot chart in a card, created once the card has a width and resized with it.
 * spec: {title, subtitle, height, xLabel, yLabel, time, xRange, yRange, data: [xs, ...ys],
 *        series: [{label, color, width, dash, points, line, fill}], bands, draw(u, ctx)}
 */
export function plot(spec) {
  const frame = h("div", { class: "chart-frame" });
  const card = h(
    "figure",
    { class: "chart", "data-chart": spec.id || null },
    h("figcaption", {}, h("strong", {}, spec.title), spec.subtitle ? h("span", { class: "muted" }, " · ", spec.subtitle) : null),
    frame,
  );
  if (typeof window.uPlot !== "function") {
    frame.append(note("warn", "The chart library did not load.", "Reload the page; if it stays, the server's files are damaged."));
    return card;
  }
  let chart = null;
  const observer = new ResizeObserver(() => {
    const width = Math.floor(frame.clientWidth);
    if (width < 50) return;
    if (chart === null) {
      chart = new window.uPlot(options(spec, width), spec.data, frame);
      live.add(chart);
    } else if (Math.abs(chart.width - width) > 2) {
      chart.setSize({ width, height: spec.height || 260 });
    }
  });
  observer.observe(frame);
  live.add(observer);
  return card;
}

function options(spec, width) {
  const axis = (label, extra = {}) => ({
    label,
    stroke: COLORS.ink,
    labelSize: 22,
    labelFont: "13px system-ui, sans-serif",
    font: "12px system-ui, sans-serif",
    grid: { stroke: "#e5e7eb", width: 1 },
    ticks: { stroke: "#d1d5db", width: 1 },
    ...extra,
  });
  const series = [
    { label: spec.xLabel || "x", value: spec.xValue || (spec.time ? (_u, v) => (v === null || v === undefined ? "–" : when(v * 1000)) : undefined) },
    ...spec.series.map((s, i) => {
      const color = s.color || CYCLE[i % CYCLE.length];
      const out = {
        label: s.label,
        stroke: color,
        width: s.width ?? 2,
        dash: s.dash,
        fill: s.fill,
        spanGaps: false,
        value: s.value || ((_u, v) => (v === null || v === undefined ? "–" : num(v, 4))),
        points: s.points ? { show: true, size: s.pointSize || 5, stroke: color, fill: color, width: 1 } : { show: false },
      };
      if (s.line === false) out.paths = () => null;
      if (s.bars) out.paths = window.uPlot.paths.bars({ size: [0.92, Infinity], align: 0 });
      return out;
    }),
  ];
  const scales = { x: { time: Boolean(spec.time) }, y: {} };
  if (spec.xRange) scales.x.range = spec.xRange;
  if (spec.yRange) scales.y.range = spec.yRange;
  return {
    width,
    height: spec.height || 260,
    scales,
    series,
    bands: spec.bands,
    axes: [axis(spec.xLabel, { ...(spec.time ? { values: TIME_TICKS } : {}), ...(spec.xAxis || {}) }), axis(spec.yLabel, { size: 60, ...(spec.yAxis || {}) })],
    legend: { show: spec.legend !== false, live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    hooks: spec.draw ? { draw: [(u) => spec.draw(u, u.ctx)] } : {},
  };
}

/** Draw a labelled vertical line at x = value (a threshold on a histogram). */
export function verticalMarker(value, label, color = COLORS.red) {
  return (u, ctx) => {
    const x = u.valToPos(value, "x", true);
    if (!Number.isFinite(x) || x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = 2 * window.devicePixelRatio;
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.font = `${12 * window.devicePixelRatio}px system-ui, sans-serif`;
    ctx.fillText(label, x + 6, u.bbox.top + 14 * window.devicePixelRatio);
    ctx.restore();
  };
}

/** Draw labelled horizontal lines (thresholds) at y values: [{value, label, color}]. */
export function horizontalMarkers(lines) {
  return (u, ctx) => {
    ctx.save();
    for (const [i, line] of lines.entries()) {
      const y = u.valToPos(line.value, "y", true);
      if (!Number.isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
      ctx.strokeStyle = line.color;
      ctx.lineWidth = 1.5 * window.devicePixelRatio;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.fillStyle = line.color;
      ctx.font = `${12 * window.devicePixelRatio}px system-ui, sans-serif`;
      // Alternate ends, so that two close thresholds keep legible labels.
      ctx.textAlign = i % 2 ? "left" : "right";
      const x = i % 2 ? u.bbox.left + 6 : u.bbox.left + u.bbox.width - 6;
      ctx.fillText(line.label, x, y - 4 * window.devicePixelRatio);
    }
    ctx.restore();
  };
}

/** Order points by x (uPlot draws lines in x order), keeping each y with its x. */
export function byX(xs, ...ys) {
  const order = xs.map((_, i) => i).filter((i) => Number.isFinite(xs[i]));
  order.sort((a, b) => xs[a] - xs[b]);
  return [order.map((i) => xs[i]), ...ys.map((y) => order.map((i) => (y[i] === undefined ? null : y[i])))];
}

/** Seconds since 1970 from an ISO time, for uPlot's time axis. */
export function epoch(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** The confusion matrix as a table: rows are the true class, columns the predicted one. */
export function confusionTable(confusion) {
  const labels = confusion.labels || [];
  const matrix = confusion.matrix || [];
  const total = matrix.flat().reduce((a, b) => a + (Number(b) || 0), 0);
  const rows = labels.map((label, i) => {
    const row = matrix[i] || [];
    const rowTotal = row.reduce((a, b) => a + (Number(b) || 0), 0);
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, String(label)),
      labels.map((_, j) => {
        const count = Number(row[j]) || 0;
        const share = rowTotal ? count / rowTotal : 0;
        const right = i === j;
        return h(
          "td",
          {
            class: ["cm-cell", right ? "cm-right" : "cm-wrong", share > 0.55 ? "cm-dark" : null],
            style: { "--shade": share.toFixed(3) },
            title: `true ${label}, predicted ${labels[j]}: ${int(count)} rows (${pct(rowTotal ? count / rowTotal : 0)} of true ${label})`,
          },
          h("span", { class: "cm-count" }, int(count)),
          h("span", { class: "cm-share" }, pct(rowTotal ? count / rowTotal : 0, 0)),
        );
      }),
    );
  });
  return h(
    "figure",
    { class: "chart", "data-chart": "confusion" },
    h("figcaption", {}, h("strong", {}, "Confusion matrix"), h("span", { class: "muted" }, ` · ${int(total)} held-out rows`)),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "confusion" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", { class: "cm-corner" }, "true ↓  predicted →"), labels.map((l) => h("th", { scope: "col" }, String(l)))),
        ),
        h("tbody", {}, rows),
      ),
    ),
    h("p", { class: "muted small" }, "Each row is what really happened, each column what the model said; the percentage (and the shade) is the share of the row. Green cells are right, red ones wrong."),
  );
}

/** Feature importance as horizontal bars, largest first (shares of the total). */
export function importanceBars(importance, limit = 15) {
  const entries = Object.entries(importance || {})
    .filter(([, v]) => Number.isFinite(v))
    .sort((a, b) => b[1] - a[1]);
  const sum = entries.reduce((a, [, v]) => a + Math.abs(v), 0) || 1;
  const top = entries.slice(0, limit);
  const peak = Math.max(...top.map(([, v]) => Math.abs(v) / sum), 1e-9);
  return h(
    "figure",
    { class: "chart", "data-chart": "importance" },
    h("figcaption", {}, h("strong", {}, "What the model relies on"), h("span", { class: "muted" }, " · share of the model's total feature importance")),
    h(
      "ol",
      { class: "bars" },
      top.map(([name, value]) => {
        const share = Math.abs(value) / sum;
        return h(
          "li",
          { class: "bar-row" },
          h("span", { class: "bar-label", title: name }, name),
          h("span", { class: "bar-track" }, h("span", { class: "bar-fill", style: { width: `${((share / peak) * 100).toFixed(1)}%` } })),
          h("span", { class: "bar-value" }, pct(share)),
        );
      }),
    ),
    entries.length > limit ? h("p", { class: "muted small" }, `and ${entries.length - limit} more inputs with smaller shares.`) : null,
  );
}
