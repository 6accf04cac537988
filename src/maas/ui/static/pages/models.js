// Models: every model of the tenant with its aliases, latest version and template.

import { enc, request } from "../api.js";
import { badge, clear, h, int, link, note, table, when } from "../dom.js";
import { fill } from "../panels.js";

const PAGE_SIZE = 50;

export async function modelsPage(ctx) {
  const state = { q: "", offset: 0 };
  const listing = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading models…"));
  const search = h("input", { type: "search", placeholder: "Filter by name or description", "aria-label": "Filter models", class: "filter" });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.q = search.value.trim();
      state.offset = 0;
      load();
    }, 250);
  });
  ctx.onLeave(() => clearTimeout(timer));
  ctx.root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Models"), search),
    h("section", { class: "panel" }, listing),
  );

  function load() {
    return fill(ctx, listing, "the models", async () => {
      const query = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE_SIZE) });
      if (state.q) query.set("q", state.q);
      const page = await request(`/v1/models?${query}`);
      if (page.items.length === 0) {
        return note("info", state.q ? "No model matches this filter." : "No models yet.", state.q ? null : "Train one from a template or upload an ONNX file (see the docs).");
      }
      const templateCells = new Map();
      const rows = page.items.map((m) => {
        const cell = h("span", { class: "muted" }, "…");
        templateCells.set(m.name, cell);
        return { ...m, templateCell: cell };
      });
      const view = [
        table(
          [
            { label: "Model", value: (m) => h("div", {}, link(`#/models/${enc(m.name)}`, h("strong", {}, m.name)), m.description ? h("div", { class: "muted small clamp" }, m.description) : null) },
            { label: "Aliases", value: (m) => aliasChips(m) },
            { label: "Latest version", value: (m) => (m.latest_version ? link(`#/models/${enc(m.name)}/versions/${m.latest_version}`, `v${m.latest_version}`) : "none"), num: true },
            { label: "Template", value: (m) => m.templateCell },
            { label: "Last change", value: (m) => when(m.updated_at) },
          ],
          rows,
          { id: "models-table" },
        ),
        pager(page),
      ];
      // The template is a property of each version: ask for the latest ones side by side.
      for (const m of page.items) {
        const cell = templateCells.get(m.name);
        if (!m.latest_version) {
          clear(cell).append("–");
          continue;
        }
        request(`/v1/models/${enc(m.name)}/versions/${m.latest_version}`)
          .then((v) => ctx.alive() && clear(cell).append(v.template ? v.template.replace(/_/g, " ") : `uploaded (${v.format})`))
          .catch(() => ctx.alive() && clear(cell).append("–"));
      }
      return view;
    });
  }

  function pager(page) {
    if (page.total <= PAGE_SIZE) return h("p", { class: "muted small" }, `${int(page.total)} models.`);
    const last = Math.min(page.offset + page.items.length, page.total);
    return h(
      "div",
      { class: "pager" },
      h("button", { type: "button", disabled: page.offset === 0, onclick: () => { state.offset = Math.max(0, page.offset - PAGE_SIZE); load(); } }, "← Previous"),
      h("span", {}, `${int(page.offset + 1)}–${int(last)} of ${int(page.total)}`),
      h("button", { type: "button", disabled: last >= page.total, onclick: () => { state.offset = page.offset + PAGE_SIZE; load(); } }, "Next →"),
    );
  }

  await load();
}

export function aliasChips(model) {
  const entries = Object.entries(model.aliases || {}).sort(([a], [b]) => (a === "production" ? -1 : b === "production" ? 1 : a.localeCompare(b)));
  if (entries.length === 0) return h("span", { class: "muted" }, "none");
  return h(
    "span",
    { class: "chips" },
    entries.map(([alias, version]) => badge(`${alias} → v${version}`, alias === "production" ? "good" : "plain")),
  );
}
