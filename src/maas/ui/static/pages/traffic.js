// Live traffic of one model: requests per second, latency (p50, p99) and errors, per minute.

import { enc, request, serverHas } from "../api.js";
import { COLORS, epoch, plot } from "../charts.js";
import { clear, h, int, note, num, pct, withUnit } from "../dom.js";
import { fill } from "../panels.js";
import { chooseModel } from "./picker.js";

const WINDOWS = [
  [60, "last hour"],
  [360, "last 6 hours"],
  [1440, "last 24 hours"],
];
const REFRESH_MS = 30_000;

export async function trafficPage(ctx) {
  const head = h("div", { class: "page-head" }, h("h1", {}, "Live traffic"));
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  ctx.root.append(head, body);
  if (!serverHas("/v1/models/{}/traffic")) {
    clear(body).append(note("info", "Traffic figures are not available on this server.", "This version of maas does not record them yet."));
    return;
  }
  const [name, chooser] = await chooseModel(ctx, "#/traffic", ctx.params[0]);
  if (!ctx.alive()) return;
  if (name === null) {
    clear(body).append(note("info", "No models yet.", "Traffic appears here once a model serves predictions."));
    return;
  }
  let minutes = 60;
  const range = h(
    "select",
    { id: "traffic-window", "aria-label": "Time window", onchange: (e) => { minutes = Number(e.target.value); load(); } },
    WINDOWS.map(([m, label]) => h("option", { value: m, selected: m === minutes }, label)),
  );
  head.append(h("div", { class: "head-controls" }, chooser, range));
  const panel = h("section", { class: "panel", id: "traffic" });
  clear(body).append(panel);

  function load() {
    return fill(ctx, panel, "traffic figures", async () => {
      const answer = await request(`/v1/models/${enc(name)}/traffic?minutes=${minutes}`);
      return trafficView(answer.points || [], minutes);
    });
  }
  await load();
  const timer = setInterval(() => document.visibilityState === "visible" && load(), REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/** Minutes without a point count as no requests, so lines do not bridge quiet spells. */
function perMinute(points, minutes) {
  const known = new Map();
  for (const p of points) {
    const t = epoch(p.t);
    if (t !== null) known.set(Math.floor(t / 60) * 60, p);
  }
  const latest = Math.max(Math.floor(Date.now() / 60000) * 60, ...known.keys());
  const xs = [];
  const rows = [];
  for (let t = latest - (minutes - 1) * 60; t <= latest; t += 60) {
    xs.push(t);
    rows.push(known.get(t) || { requests: 0, errors: 0, p50_ms: null, p99_ms: null });
  }
  return [xs, rows];
}

function trafficView(points, minutes) {
  const total = points.reduce((a, p) => a + (p.requests || 0), 0);
  const errors = points.reduce((a, p) => a + (p.errors || 0), 0);
  const windowName = WINDOWS.find(([m]) => m === minutes)?.[1] || `last ${minutes} minutes`;
  if (total === 0) {
    return note("info", `No requests in the ${windowName}.`, "The charts appear once this model answers predictions.");
  }
  const [xs, rows] = perMinute(points, minutes);
  const busy = points.filter((p) => (p.requests || 0) > 0 && typeof p.p50_ms === "number");
  const last = busy.length ? busy.reduce((a, b) => (epoch(a.t) > epoch(b.t) ? a : b)) : null;
  const worstP99 = Math.max(...busy.map((p) => p.p99_ms ?? 0));
  const dot = busy.length < 10 ? 10 : 3; // a few busy minutes are dots between gaps: make them visible
  const tiles = h(
    "div",
    { class: "tiles" },
    tile("Requests", int(total), `${num(total / (minutes * 60), 3)} requests/s on average, ${windowName}`),
    tile("Errors", int(errors), total ? `${pct(errors / total)} of requests` : "", errors > 0 ? "bad" : "good"),
    tile("Latency p50", last ? withUnit(last.p50_ms, "ms") : "–", "half the requests were faster (latest busy minute)"),
    tile("Latency p99", last ? withUnit(last.p99_ms, "ms") : "–", busy.length ? `1 in 100 was slower; worst minute ${withUnit(worstP99, "ms")}` : ""),
  );
  return [
    tiles,
    h(
      "div",
      { class: "chart-grid" },
      plot({
        id: "traffic-rate",
        title: "Requests per second",
        subtitle: "average over each minute",
        xLabel: "time",
        yLabel: "requests/s",
        time: true,
        data: [xs, rows.map((r) => (r.requests || 0) / 60), rows.map((r) => (r.errors || 0) / 60)],
        series: [
          { label: "requests/s", color: COLORS.blue, width: 2, fill: "rgba(37, 99, 235, 0.10)", value: (_u, v) => (v === null ? "–" : `${num(v, 3)} /s`) },
          { label: "errors/s", color: COLORS.red, width: 2, value: (_u, v) => (v === null ? "–" : `${num(v, 3)} /s`) },
        ],
      }),
      plot({
        id: "traffic-latency",
        title: "Latency",
        subtitle: "time to answer, per minute",
        xLabel: "time",
        yLabel: "milliseconds",
        time: true,
        data: [xs, rows.map((r) => r.p50_ms ?? null), rows.map((r) => r.p99_ms ?? null)],
        series: [
          { label: "p50", color: COLORS.green, width: 2, points: true, pointSize: dot, value: (_u, v) => (v === null ? "–" : `${num(v, 3)} ms`) },
          { label: "p99", color: COLORS.orange, width: 2, points: true, pointSize: dot, value: (_u, v) => (v === null ? "–" : `${num(v, 3)} ms`) },
        ],
      }),
    ),
  ];
}

function tile(label, value, detail, tone) {
  return h("div", { class: ["tile", tone ? `tile-${tone}` : null] }, h("div", { class: "tile-label" }, label), h("div", { class: "tile-value" }, value), h("div", { class: "tile-detail" }, detail));
}

export { tile };
