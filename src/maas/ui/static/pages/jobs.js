// Background jobs (training, retraining, batch prediction): status and progress, refreshed
// every two seconds while one is queued or running.

import { ApiError, enc, request } from "../api.js";
import { badge, clear, duration, h, int, link, note, table, when } from "../dom.js";
import { problemNote } from "../panels.js";

const ACTIVE_MS = 2_000;
const IDLE_MS = 15_000;
const KINDS = { train: "training", retrain: "retraining", batch_predict: "batch prediction" };
const STATUS_TONE = { queued: "plain", running: "info", succeeded: "good", failed: "bad", cancelled: "warn" };

export async function jobsPage(ctx) {
  const filter = h(
    "select",
    { id: "job-status", "aria-label": "Show jobs" },
    [["", "all jobs"], ["running", "running"], ["queued", "queued"], ["succeeded", "succeeded"], ["failed", "failed"], ["cancelled", "cancelled"]].map(([v, label]) => h("option", { value: v }, label)),
  );
  const stamp = h("span", { class: "muted small", id: "jobs-updated" });
  const body = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading jobs…"));
  ctx.root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Jobs"), h("div", { class: "head-controls" }, filter, stamp)),
    h("section", { class: "panel" }, body),
  );
  const open = new Set(); // jobs whose log is unfolded, kept across refreshes
  let timer = null;

  async function load() {
    clearTimeout(timer);
    const query = new URLSearchParams({ limit: "100" });
    if (filter.value) query.set("status", filter.value);
    let page;
    try {
      page = await request(`/v1/jobs?${query}`);
    } catch (err) {
      if (!ctx.alive() || (err instanceof ApiError && err.kind === "signed_out")) return;
      clear(body).append(problemNote(err, "the jobs"));
      timer = setTimeout(load, IDLE_MS);
      return;
    }
    if (!ctx.alive()) return;
    const active = page.items.some((j) => j.status === "queued" || j.status === "running");
    clear(stamp).append(`updated ${new Date().toLocaleTimeString("en-GB")}${active ? " · refreshing every 2 s while jobs run" : ""}`);
    clear(body).append(page.items.length ? jobsTable(page.items, open) : note("info", filter.value ? `No ${filter.value} jobs.` : "No jobs yet.", filter.value ? null : "Training and batch prediction jobs appear here."));
    timer = setTimeout(load, active ? ACTIVE_MS : IDLE_MS);
  }
  filter.addEventListener("change", load);
  ctx.onLeave(() => clearTimeout(timer));
  await load();
}

function jobsTable(jobs, open) {
  return table(
    [
      { label: "Submitted", value: (j) => h("div", {}, when(j.created_at), h("div", { class: "muted small" }, `by ${j.created_by}`)) },
      { label: "Job", value: (j) => what(j) },
      { label: "Status", value: (j) => badge(j.status, STATUS_TONE[j.status] || "plain") },
      { label: "Progress", value: (j) => progress(j, open) },
      { label: "Took", value: (j) => took(j), num: true },
      { label: "Result", value: (j) => result(j) },
    ],
    jobs,
    { id: "jobs-table" },
  );
}

function what(job) {
  const r = job.request || {};
  const model = r.model ? link(`#/models/${enc(r.model)}`, r.model) : null;
  const data = r.dataset ? ` on ${r.dataset}${r.dataset_version ? ` v${r.dataset_version}` : ""}` : "";
  const template = r.template ? ` (${String(r.template).replace(/_/g, " ")})` : "";
  return h("div", {}, h("strong", {}, KINDS[job.kind] || job.kind), model ? [" of ", model] : null, h("div", { class: "muted small" }, `${template}${data}`.trim()));
}

function progress(job, open) {
  const share = Math.max(0, Math.min(1, Number(job.progress) || 0));
  const done = job.status === "succeeded";
  const bar = h(
    "div",
    { class: ["progress", `progress-${job.status}`], role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round((done ? 1 : share) * 100)) },
    h("span", { class: "progress-fill", style: { width: `${((done ? 1 : share) * 100).toFixed(1)}%` } }),
  );
  const log = (job.log || "").trim();
  const details = log
    ? h(
        "details",
        { open: open.has(job.id), ontoggle: (e) => (e.target.open ? open.add(job.id) : open.delete(job.id)) },
        h("summary", { class: "small" }, "log"),
        h("pre", { class: "log" }, log.split("\n").slice(-40).join("\n")),
      )
    : null;
  return h("div", { class: "progress-cell" }, h("div", { class: "progress-line" }, bar, h("span", { class: "progress-pct" }, `${Math.round((done ? 1 : share) * 100)} %`)), job.message ? h("div", { class: "small muted" }, job.message) : null, details);
}

function took(job) {
  if (!job.started_at) return job.status === "queued" ? "waiting" : "–";
  const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  return duration((end - Date.parse(job.started_at)) / 1000);
}

function result(job) {
  const r = job.result || {};
  if (job.status !== "succeeded") return "";
  if (r.model && r.version) return link(`#/models/${enc(r.model)}/versions/${r.version}`, `${r.model} v${r.version} →`);
  if (typeof r.rows === "number") return `${int(r.rows)} rows predicted`;
  return "done";
}
