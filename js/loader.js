// Model sources: a URL (streamed with fetch, cached in origin storage), a path (Node), a
// Blob/File, an ArrayBuffer or a typed array. Every source is read in chunks that go straight
// into the wasm EngineLoader, so no JavaScript buffer ever holds the whole model.

import { codedError, abortError } from "./errors.js";
import { cacheLookup, cacheWriter } from "./cache.js";

const isNode = typeof globalThis.process?.versions?.node === "string";
const CHUNK = 16 << 20;
const PROGRESS_EVERY_MS = 50;

/**
 * Reads `model` chunk by chunk: `begin(total)` (total undefined when unknown), then `push(chunk)`
 * for each chunk, `onProgress({ loaded, total })` as bytes arrive (loaded increases; the last
 * call has loaded === total when the total is known). Rejects with code "aborted" when `signal`
 * aborts, "io" when the source fails, or whatever begin/push throw.
 */
export async function feedModel(model, { begin, push, onProgress, signal, cache = true }) {
  const source = await openSource(model, { signal, cache });
  let loaded = 0;
  let reported = 0;
  let last = 0;
  const report = (force) => {
    if (!onProgress || loaded === reported) return;
    const now = Date.now();
    if (!force && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    reported = loaded;
    onProgress({ loaded, total: source.total });
  };
  try {
    begin(source.total);
    for await (const chunk of source.chunks) {
      if (signal?.aborted) throw abortError("the model load was aborted");
      if (chunk.length === 0) continue;
      push(chunk);
      loaded += chunk.length;
      report(loaded === source.total);
    }
    if (signal?.aborted) throw abortError("the model load was aborted");
    report(true);
    await source.done?.();
  } catch (e) {
    await source.cancel?.();
    if (signal?.aborted && e?.code !== "aborted") throw abortError("the model load was aborted");
    throw e;
  }
}

function slices(bytes) {
  return (function* () {
    for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, Math.min(at + CHUNK, bytes.length));
  })();
}

async function* readerChunks(reader) {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value instanceof Uint8Array ? value : new Uint8Array(value);
  }
}

function blobSource(blob) {
  if (typeof blob.stream === "function") {
    const reader = blob.stream().getReader();
    return { total: blob.size, chunks: readerChunks(reader), cancel: () => reader.cancel().catch(() => {}) };
  }
  return {
    total: blob.size,
    chunks: (async function* () {
      for (let at = 0; at < blob.size; at += CHUNK) yield new Uint8Array(await blob.slice(at, at + CHUNK).arrayBuffer());
    })(),
  };
}

/** Is `model` a filesystem path or file: URL (Node), rather than something to fetch? */
function isLocalPath(model) {
  if (!isNode) return false;
  if (model instanceof URL) return model.protocol === "file:";
  return !/^[a-z][a-z0-9+.-]*:/i.test(model) || /^file:/i.test(model);
}

/** A Node built-in module (`node:fs`, ...), imported only when running under Node. The name is
 *  a variable so that bundlers building for the browser neither resolve nor stub it. */
export function nodeModule(name) {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ name);
}

async function fileSource(model, signal) {
  const { stat } = await nodeModule("node:fs/promises");
  const { createReadStream } = await nodeModule("node:fs");
  const { fileURLToPath } = await nodeModule("node:url");
  const path = model instanceof URL || /^file:/i.test(model) ? fileURLToPath(model) : model;
  let size;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw codedError("io", `cannot read the model ${path}: ${e.message}`);
  }
  const stream = createReadStream(path, { highWaterMark: CHUNK, signal });
  return {
    total: size,
    chunks: (async function* () {
      try {
        for await (const chunk of stream) yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      } catch (e) {
        if (signal?.aborted) throw abortError("the model load was aborted");
        throw codedError("io", `cannot read the model ${path}: ${e.message}`);
      }
    })(),
    cancel: () => stream.destroy(),
  };
}

async function fetchOrThrow(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (init.signal?.aborted) throw abortError("the model load was aborted");
    throw codedError("io", `cannot fetch the model ${url}: ${e.message}`);
  }
}

async function urlSource(url, signal, cache) {
  if (cache) {
    const hit = await cacheLookup(url);
    let fresh = Boolean(hit);
    if (hit && cache === "revalidate") {
      const head = await fetchOrThrow(url, { method: "HEAD", signal, cache: "no-store" });
      const etag = head.headers.get("etag");
      const size = head.headers.get("content-length");
      fresh = head.ok && (etag ?? null) === hit.etag && (size === null || Number(size) === hit.size);
    }
    if (fresh) return { ...blobSource(hit.blob), cached: hit.storage };
  }
  const res = await fetchOrThrow(url, { signal });
  if (!res.ok) throw codedError("io", `cannot fetch the model ${url}: HTTP ${res.status} ${res.statusText}`.trim());
  if (!res.body) throw codedError("io", `cannot fetch the model ${url}: the response has no body`);
  const encoding = res.headers.get("content-encoding");
  const length = res.headers.get("content-length");
  const total = length !== null && (!encoding || encoding === "identity") ? Number(length) : undefined;
  const writer = cache ? await cacheWriter(url, { size: total, etag: res.headers.get("etag") }) : null;
  const reader = res.body.getReader();
  return {
    total,
    chunks: (async function* () {
      try {
        for await (const chunk of readerChunks(reader)) {
          await writer?.write(chunk);
          yield chunk;
        }
      } catch (e) {
        if (signal?.aborted) throw abortError("the model load was aborted");
        if (e?.code) throw e;
        throw codedError("io", `the download of ${url} failed: ${e.message}`);
      }
    })(),
    done: () => writer?.commit(),
    cancel: async () => {
      await reader.cancel().catch(() => {});
      await writer?.abort();
    },
  };
}

/** { total, chunks (async iterable of Uint8Array), done?(), cancel?() } for any model source. */
export async function openSource(model, { signal, cache }) {
  if (model instanceof ArrayBuffer) return { total: model.byteLength, chunks: slices(new Uint8Array(model)) };
  if (ArrayBuffer.isView(model)) {
    const bytes = new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
    return { total: bytes.length, chunks: slices(bytes) };
  }
  if (typeof Blob !== "undefined" && model instanceof Blob) return blobSource(model);
  if (typeof model === "string" || model instanceof URL) {
    if (isLocalPath(model)) return fileSource(model, signal);
    const base = globalThis.location?.href;
    let url;
    try {
      url = new URL(model, base).href;
    } catch {
      throw codedError("invalid_argument", `model: ${model} is not a URL`);
    }
    return urlSource(url, signal, cache);
  }
  throw codedError("invalid_argument", "model must be a URL, a path (Node), a Blob/File, an ArrayBuffer or a typed array");
}
