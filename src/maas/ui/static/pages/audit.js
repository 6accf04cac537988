// The audit log of the tenant (admin keys): who did what, when, and how it ended; newest first.

import { ApiError, request } from "../api.js";
import { badge, clear, h, int, note, table, when } from "../dom.js";
import { problemNote } from "../panels.js";

const PAGE_SIZE = 50;

const OUTCOME_TONE = { ok: "good", success: "good", denied: "bad", failed: "bad", error: "bad" };

export async function auditPage(ctx) {
  const filter = h("input", { type: "search", placeholder: "Filter (action, who, resource…)", "aria-label": "Filter the audit log", class: "filter" });
  const body = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading the audit log…"));
  ctx.root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Audit log"), filter),
    h("p", { class: "muted" }, "Every change to models, versions, aliases, keys and tenants, every refused request, and predictions counted per key and minute. The log is a hash chain: ", h("code", {}, "maas audit verify"), " on the server checks that nothing was edited."),
    h("section", { class: "panel" }, body),
  );
  let records = [];
  let offset = 0;

  const render = () => {
    const words = filter.value.trim().toLowerCase();
    const shown = words
      ? records.filter((r) => [r.action, r.actor, r.resource, r.outcome].some((v) => String(v || "").toLowerCase().includes(words)))
      : records;
    if (shown.length === 0) {
      clear(body).append(note("info", words ? "No record matches this filter." : "The audit log is empty."));
      return;
    }
    offset = Math.min(offset, Math.max(0, shown.length - 1));
    const slice = shown.slice(offset, offset + PAGE_SIZE);
    clear(body).append(
      table(
        [
          { label: "When", value: (r) => when(r.at), cls: "nowrap" },
          { label: "Who", value: (r) => r.actor },
          { label: "Action", value: (r) => h("span", { class: "mono" }, r.action) },
          { label: "Resource", value: (r) => h("span", { class: "mono small" }, r.resource) },
          { label: "Outcome", value: (r) => badge(r.outcome, OUTCOME_TONE[r.outcome] || "plain") },
          { label: "Details", value: (r) => details(r) },
        ],
        slice,
        { id: "audit-table", class: "compact" },
      ),
      h(
        "div",
        { class: "pager" },
        h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE_SIZE); render(); } }, "← Newer"),
        h("span", {}, `${int(offset + 1)}–${int(offset + slice.length)} of ${int(shown.length)} records`),
        h("button", { type: "button", disabled: offset + PAGE_SIZE >= shown.length, onclick: () => { offset += PAGE_SIZE; render(); } }, "Older →"),
      ),
    );
  };
  filter.addEventListener("input", () => {
    offset = 0;
    render();
  });

  let text;
  try {
    text = await request("/v1/audit", { as: "text" });
  } catch (err) {
    if (ctx.alive() && !(err instanceof ApiError && err.kind === "signed_out")) clear(body).append(problemNote(err, "the audit log"));
    return;
  }
  if (!ctx.alive()) return;
  records = parseLines(text).reverse();
  render();
}

function parseLines(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a torn last line while the server writes: skip it, the next load has it whole
    }
  }
  return out;
}

function details(record) {
  const facts = Object.entries(record.details || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  const parts = facts.map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
  if (record.request_id) parts.push(`request ${record.request_id}`);
  const text = parts.join(" · ");
  return text ? h("span", { class: "small muted details", title: text }, text) : "";
}
