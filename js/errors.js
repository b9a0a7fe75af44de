// Errors with a stable `code` (see README: "bad_model", "out_of_memory", "aborted",
// "invalid_argument", "panic", ...), and their form on the wire between a Worker and the page.

/** An Error with a `code` property (and any extra properties given). */
export function codedError(code, message, extra) {
  const e = new Error(message);
  e.code = code;
  if (extra) Object.assign(e, extra);
  return e;
}

/** The error an aborted model load rejects with: name "AbortError", code "aborted". */
export function abortError(message = "aborted") {
  const e = codedError("aborted", message);
  e.name = "AbortError";
  return e;
}

/** A plain object that survives postMessage. */
export function serializeError(e) {
  if (e instanceof Error || (e && typeof e === "object" && "message" in e)) {
    return { name: e.name, message: String(e.message), code: e.code ?? "internal", kind: e.kind, stack: e.stack };
  }
  return { name: "Error", message: String(e), code: "internal" };
}

/** The Error again, on the other side. */
export function deserializeError(s) {
  const e = codedError(s.code ?? "internal", s.message ?? "unknown error");
  if (s.name && s.name !== "Error") e.name = s.name;
  if (s.kind !== undefined) e.kind = s.kind;
  if (s.stack) e.workerStack = s.stack;
  return e;
}
