// One model: its versions with their lineage and scores, and its aliases with every move.

import { ApiError, enc, request } from "../api.js";
import { badge, h, link, metricName, note, num, table, when } from "../dom.js";
import { fill, problemNote } from "../panels.js";
import { aliasChips } from "./models.js";

const MAIN_METRICS = ["roc_auc", "pr_auc", "f1", "f1_macro", "accuracy", "mae", "rmse", "r2", "mase", "coverage", "nasa_score"];

/** The two or three scores that say most about a version, held-out (never the baseline). */
export function mainMetrics(metrics, count = 3) {
  const keys = Object.keys(metrics || {}).filter((k) => !k.startsWith("baseline") && typeof metrics[k] === "number");
  const ranked = [...MAIN_METRICS.filter((k) => keys.includes(k)), ...keys.filter((k) => !MAIN_METRICS.includes(k) && k !== "threshold")];
  return ranked.slice(0, count).map((k) => [k, metrics[k]]);
}

export async function modelPage(ctx) {
  const [name] = ctx.params;
  const head = h("div", { class: "page-head" }, h("h1", {}, name));
  ctx.root.append(h("p", { class: "crumbs" }, link("#/models", "Models"), " / ", name), head);
  let model;
  try {
    model = await request(`/v1/models/${enc(name)}`);
  } catch (err) {
    // One note for a model that is not there (or belongs to another tenant), not one per panel.
    if (ctx.alive() && !(err instanceof ApiError && err.kind === "signed_out")) ctx.root.append(problemNote(err, "this model"));
    return;
  }
  if (!ctx.alive()) return;
  const summary = h("div", { class: "panel-body" });
  const aliases = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading aliases…"));
  const versions = h("div", { class: "panel-body" }, h("p", { class: "muted" }, "Loading versions…"));
  ctx.root.append(
    h("section", { class: "panel" }, summary),
    h("section", { class: "panel", id: "versions" }, h("h2", {}, "Versions"), versions),
    h("section", { class: "panel", id: "aliases" }, h("h2", {}, "Aliases and their history"), aliases),
  );
  summary.append(
    model.description ? h("p", { class: "lead" }, model.description) : "",
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Aliases"),
      h("dd", {}, aliasChips(model)),
      h("dt", {}, "Latest version"),
      h("dd", {}, model.latest_version ? link(`#/models/${enc(name)}/versions/${model.latest_version}`, `v${model.latest_version}`) : "none yet"),
      h("dt", {}, "Created"),
      h("dd", {}, when(model.created_at)),
      Object.keys(model.tags || {}).length ? [h("dt", {}, "Tags"), h("dd", {}, Object.entries(model.tags).map(([k, v]) => badge(`${k}: ${v}`, "plain")))] : null,
    ),
    h("p", { class: "actions" }, link(`#/traffic/${enc(name)}`, "Live traffic →"), link(`#/drift/${enc(name)}`, "Input drift →")),
  );
  await Promise.all([
    fill(ctx, versions, "the versions", async () => {
      const page = await request(`/v1/models/${enc(name)}/versions`);
      if (page.items.length === 0) return note("info", "No versions yet.", "Train one from a template or upload an ONNX file.");
      const rows = [...page.items].reverse(); // newest first: the one people ask about
      return table(
        [
          { label: "Version", value: (v) => link(`#/models/${enc(name)}/versions/${v.version}`, h("strong", {}, `v${v.version}`)), num: true },
          { label: "Aliases", value: (v) => (v.aliases.length ? h("span", { class: "chips" }, v.aliases.map((a) => badge(a, a === "production" ? "good" : "plain"))) : "") },
          { label: "Made", value: (v) => h("div", {}, when(v.created_at), h("div", { class: "muted small" }, `by ${v.created_by}`)) },
          { label: "How", value: (v) => (v.template ? `trained: ${v.template.replace(/_/g, " ")}` : `uploaded ${v.format.toUpperCase()}`) },
          { label: "Data", value: (v) => v.source_dataset || "–" },
          {
            label: "Held-out scores",
            value: (v) => {
              const main = mainMetrics(v.metrics);
              return main.length ? h("span", { class: "metrics-inline" }, main.map(([k, val]) => h("span", {}, `${metricName(k)} `, h("strong", {}, num(val))))) : h("span", { class: "muted" }, "none recorded");
            },
          },
          { label: "", value: (v) => link(`#/models/${enc(name)}/versions/${v.version}`, v.report ? "Report →" : "Details →"), cls: "nowrap" },
        ],
        rows,
        { id: "versions-table" },
      );
    }),
    fill(ctx, aliases, "the aliases", async () => {
      const list = await request(`/v1/models/${enc(name)}/aliases`);
      if (list.length === 0) return note("info", "No aliases yet.", "Point one (production, staging) at a version to serve it by that name.");
      const histories = await Promise.all(
        list.map((a) => request(`/v1/models/${enc(name)}/aliases/${enc(a.alias)}/history`).catch((err) => err)),
      );
      return list.map((a, i) => {
        const history = histories[i];
        return h(
          "div",
          { class: "alias-block" },
          h("h3", {}, badge(a.alias, a.alias === "production" ? "good" : "plain"), ` points at `, link(`#/models/${enc(name)}/versions/${a.version}`, `v${a.version}`), h("span", { class: "muted small" }, ` since ${when(a.updated_at)}`)),
          Array.isArray(history)
            ? history.length
              ? table(
                  [
                    { label: "When", value: (e) => when(e.at), cls: "nowrap" },
                    { label: "Move", value: (e) => moveText(e) },
                    { label: "By", value: (e) => e.actor },
                  ],
                  [...history].reverse(),
                  { class: "compact alias-history" },
                )
              : h("p", { class: "muted" }, "Never moved.")
            : note("warn", "The history of this alias could not be read.", history.message),
        );
      });
    }),
  ]);
}

function moveText(event) {
  if (event.from_version === null && event.to_version !== null) return `set to v${event.to_version}`;
  if (event.to_version === null) return `removed (was v${event.from_version})`;
  return `v${event.from_version} → v${event.to_version}`;
}
