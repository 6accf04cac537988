// Talking to the server: the signed-in key (this browser tab only), requests with it, and the
// server's problem documents turned into errors each page can explain in plain words.

const KEY_SLOT = "maas.apiKey";

/** Raised for every answer that is not a success; `kind` says what the page should say. */
export class ApiError extends Error {
  constructor(kind, status, problem, message) {
    super(message);
    this.kind = kind; // signed_out | forbidden | unavailable | not_found | invalid | busy | failed | offline
    this.status = status;
    this.problem = problem || {};
  }
  get requestId() {
    return this.problem.instance || null;
  }
}

let onSignedOut = () => {};
let routes = null; // path templates the server has, from its OpenAPI document

export function currentKey() {
  try {
    return window.sessionStorage.getItem(KEY_SLOT);
  } catch {
    return null;
  }
}

export function storeKey(key) {
  window.sessionStorage.setItem(KEY_SLOT, key);
}

export function forgetKey() {
  try {
    window.sessionStorage.removeItem(KEY_SLOT);
  } catch {
    // storage blocked: nothing was stored either
  }
}

/** What to do when the server stops accepting the key (revoked, expired). */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function kindOf(status, code) {
  if (status === 401) return "signed_out";
  if (status === 403) return "forbidden";
  // A route this server does not have answers the generic "not_found"; a missing model,
  // version or job has its own code.
  if (status === 404) return code === "not_found" ? "unavailable" : "not_found";
  if (status === 409 || status === 413 || status === 415 || status === 422 || status === 400) return "invalid";
  if (status === 429 || status === 503) return "busy";
  return "failed";
}

async function problemOf(response) {
  try {
    const text = await response.text();
    const doc = JSON.parse(text);
    return doc && typeof doc === "object" ? doc : {};
  } catch {
    return {};
  }
}

/**
 * GET (or another method) a path of this server with the signed-in key.
 * Resolves to parsed JSON (or text for `as: "text"`); rejects with ApiError, never anything else.
 */
export async function request(path, { method = "GET", body, key, as = "json", signal } = {}) {
  const secret = key ?? currentKey();
  const headers = { Accept: as === "json" ? "application/json" : "*/*" };
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw new ApiError("aborted", 0, {}, "cancelled");
    throw new ApiError("offline", 0, {}, "The server did not answer. Check the network and that maas is running.");
  }
  if (response.ok) {
    if (response.status === 204) return null;
    return as === "text" ? response.text() : response.json();
  }
  const problem = await problemOf(response);
  const kind = kindOf(response.status, problem.code);
  const error = new ApiError(kind, response.status, problem, problem.detail || response.statusText || "request failed");
  if (kind === "signed_out" && key === undefined) onSignedOut(error);
  return Promise.reject(error);
}

/** Load the list of routes this server has (public, the same for every key). */
export async function loadRoutes() {
  try {
    const doc = await request("/openapi.json", { key: null });
    routes = new Set(
      Object.keys(doc.paths || {}).map((p) => p.replace(/\{[^}]+\}/g, "{}")),
    );
  } catch {
    routes = null; // unknown: ask, and read a 404 "not_found" as "not on this server"
  }
}

/** Whether this server has a route like "/v1/models/{}/traffic" (true when unknown). */
export function serverHas(template) {
  return routes === null || routes.has(template);
}

export const enc = encodeURIComponent;
