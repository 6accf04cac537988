// What a panel shows when it cannot show its content: a role too small, a route this server
// does not have, a missing model, a failed request. Never a blank panel, never a stack trace.

import { ApiError } from "./api.js";
import { clear, note } from "./dom.js";

/** The note for a page or panel the key's role may not see. */
export function roleNote(role, needed) {
  if (role === "consumer") {
    return note(
      "warn",
      "Your key's role cannot see this.",
      "This is a consumer key: it may make predictions but not read the registry. Sign in with a viewer, developer or admin key.",
    );
  }
  return note("warn", "Your key's role cannot see this.", `It needs ${article(needed)} ${needed} key or a stronger one; yours is ${article(role)} ${role} key.`);
}

/** What a panel shows instead of its content when a request failed. */
export function problemNote(err, what) {
  if (!(err instanceof ApiError)) {
    return note("error", `Something went wrong showing ${what}.`, String(err && err.message ? err.message : err));
  }
  const rid = err.requestId ? ` (request id ${err.requestId})` : "";
  switch (err.kind) {
    case "forbidden":
      return note("warn", "Your key's role cannot see this.", err.message);
    case "unavailable":
      return note("info", `${capital(what)} is not available on this server.`, "This version of maas does not offer it yet.");
    case "not_found":
      return note("warn", "Not found.", err.message);
    case "busy":
      return note("warn", "The server is busy.", "Wait a few seconds; the page refreshes by itself or reload it.");
    case "offline":
      return note("error", "The server did not answer.", "Check the network and that maas is running.");
    case "invalid":
      return note("warn", "The server refused this request.", err.message);
    case "signed_out":
      return note("warn", "Your session has ended.", "Sign in again.");
    default:
      return note("error", `The server failed to show ${what}.`, `${err.message}${rid}`);
  }
}

function article(word) {
  return /^[aeiou]/.test(word) ? "an" : "a";
}

function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Run `load` into `panel`, replacing it with a problem note when it fails. */
export async function fill(ctx, panel, what, load) {
  try {
    const content = await load();
    if (!ctx.alive()) return;
    clear(panel).append(...[content].flat().filter(Boolean));
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.kind === "signed_out") return;
    clear(panel).append(problemNote(err, what));
    if (!(err instanceof ApiError)) console.error(err);
  }
}

