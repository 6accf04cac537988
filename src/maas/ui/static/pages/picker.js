// The model chooser at the top of the per-model pages (traffic, drift).

import { enc, request } from "../api.js";
import { h } from "../dom.js";

/**
 * Resolve which model a per-model page shows (the one in the address, else the first) and
 * return [name, chooser element]; name is null when the tenant has no model.
 */
export async function chooseModel(ctx, base, current) {
  const page = await request("/v1/models?limit=500");
  const names = page.items.map((m) => m.name);
  const name = current && names.includes(current) ? current : current || names[0] || null;
  if (name === null) return [null, null];
  const select = h(
    "select",
    { id: "model-choice", "aria-label": "Model", onchange: (e) => (location.hash = `${base}/${enc(e.target.value)}`) },
    names.map((n) => h("option", { value: n, selected: n === name }, n)),
  );
  if (!names.includes(name)) select.prepend(h("option", { value: name, selected: true }, name));
  return [name, h("label", { class: "chooser" }, "Model ", select)];
}
