// The model cache: downloaded models kept in the Origin Private File System (OPFS), or in the
// Cache API where OPFS cannot be written, keyed by URL, with the size and ETag the server gave.
// A cached model is used without any network request (unless `cache: "revalidate"`, which asks
// the server with a HEAD request whether the size or ETag changed). Not available in Node (no
// origin storage there): lookups miss and nothing is written.

import { codedError } from "./errors.js";

const DIR = "ruvllm-models";
const CACHE_NAME = "ruvllm-models";
const MIB = 1 << 20;

const storage = () => globalThis.navigator?.storage;
const hasCacheApi = () => typeof globalThis.caches?.open === "function";

/** A short stable name for a URL (cyrb53): the file names in OPFS. The URL itself is kept in the
 *  entry's metadata and checked on lookup. */
function nameOf(url) {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}

async function opfsDir(create) {
  if (typeof storage()?.getDirectory !== "function") return null;
  try {
    const root = await storage().getDirectory();
    return await root.getDirectoryHandle(DIR, { create });
  } catch {
    return null;
  }
}

async function readJson(dir, name) {
  try {
    const file = await (await dir.getFileHandle(name)).getFile();
    return JSON.parse(await file.text());
  } catch {
    return null;
  }
}

async function removeEntry(dir, name) {
  try {
    await dir.removeEntry(name);
  } catch {
    // already gone
  }
}

/** A file writer over OPFS: `createWritable` (page and workers), else a sync access handle
 *  (workers only, e.g. Safari). Null when neither exists. */
async function opfsWriter(handle) {
  if (typeof handle.createWritable === "function") {
    const w = await handle.createWritable();
    return { write: (chunk) => w.write(chunk), close: () => w.close(), abort: () => w.abort() };
  }
  if (typeof handle.createSyncAccessHandle === "function") {
    const h = await handle.createSyncAccessHandle();
    h.truncate(0);
    let at = 0;
    return {
      write: (chunk) => {
        at += h.write(chunk, { at });
      },
      close: () => {
        h.flush();
        h.close();
      },
      abort: () => h.close(),
    };
  }
  return null;
}

async function writeText(dir, name, text) {
  const w = await opfsWriter(await dir.getFileHandle(name, { create: true }));
  if (!w) throw new Error("OPFS files cannot be written here");
  await w.write(new TextEncoder().encode(text));
  await w.close();
}

function quotaError(size, estimate, cause) {
  const mib = (n) => (n / MIB).toFixed(1);
  const need = size === undefined ? "the model" : `the model (${mib(size)} MiB)`;
  const numbers =
    estimate && Number.isFinite(estimate.quota)
      ? `this origin uses ${mib(estimate.usage ?? 0)} MiB of its ${mib(estimate.quota)} MiB storage quota ` +
        `(${mib(Math.max(0, estimate.quota - (estimate.usage ?? 0)))} MiB free, navigator.storage.estimate())`
      : "the browser did not report its storage quota";
  return codedError(
    "quota_exceeded",
    `not enough storage to cache ${need}: ${numbers}${cause ? ` (${cause})` : ""}; free space with ` +
      "deleteCachedModel(url) or clearModelCache(), or load with { cache: false }",
  );
}

async function estimate() {
  try {
    return await storage()?.estimate?.();
  } catch {
    return undefined;
  }
}

const isQuotaError = (e) => e?.name === "QuotaExceededError" || /quota/i.test(String(e?.message));

/**
 * The cached copy of `url`: { blob, size, etag, storage } (a Blob read lazily from disk), or null.
 * An entry whose file does not have the recorded size is dropped.
 */
export async function cacheLookup(url) {
  const dir = await opfsDir(false);
  if (dir) {
    const name = nameOf(url);
    const meta = await readJson(dir, `${name}.json`);
    if (meta?.url === url) {
      try {
        const blob = await (await dir.getFileHandle(`${name}.gguf`)).getFile();
        if (blob.size === meta.size) return { blob, size: meta.size, etag: meta.etag ?? null, storage: "opfs" };
      } catch {
        // the data file is gone: drop the entry below
      }
      await removeEntry(dir, `${name}.json`);
      await removeEntry(dir, `${name}.gguf`);
    }
  }
  if (hasCacheApi()) {
    try {
      const res = await (await caches.open(CACHE_NAME)).match(url);
      if (res) {
        const blob = await res.blob();
        const size = Number(res.headers.get("x-ruvllm-size"));
        if (blob.size === size) return { blob, size, etag: res.headers.get("x-ruvllm-etag"), storage: "cache" };
        await (await caches.open(CACHE_NAME)).delete(url);
      }
    } catch {
      // the Cache API refused (e.g. an opaque origin): a miss
    }
  }
  return null;
}

/**
 * A writer that stores `url`'s bytes as they download: { write(chunk), commit(), abort() }, or
 * null where there is no origin storage. Refuses up front (code "quota_exceeded", with the
 * numbers of navigator.storage.estimate()) when `size` is known and does not fit, and turns a
 * quota failure while writing into the same error. The entry becomes visible only on commit().
 */
export async function cacheWriter(url, { size, etag }) {
  const est = await estimate();
  if (size !== undefined && est && Number.isFinite(est.quota) && size > est.quota - (est.usage ?? 0)) {
    throw quotaError(size, est);
  }
  const wrapQuota = async (f) => {
    try {
      return await f();
    } catch (e) {
      if (isQuotaError(e)) throw quotaError(size, await estimate(), e.message);
      throw e;
    }
  };
  const dir = await opfsDir(true);
  if (dir) {
    const name = nameOf(url);
    await removeEntry(dir, `${name}.json`);
    const w = await wrapQuota(async () => opfsWriter(await dir.getFileHandle(`${name}.gguf`, { create: true })));
    if (w) {
      let written = 0;
      return {
        write: (chunk) =>
          wrapQuota(async () => {
            await w.write(chunk);
            written += chunk.length;
          }),
        commit: () =>
          wrapQuota(async () => {
            await w.close();
            const meta = { url, size: written, etag: etag ?? null, cached_at: new Date().toISOString() };
            await writeText(dir, `${name}.json`, JSON.stringify(meta));
          }),
        abort: async () => {
          try {
            await w.abort();
          } catch {
            // already closed
          }
          await removeEntry(dir, `${name}.gguf`);
        },
      };
    }
  }
  if (hasCacheApi()) {
    const cache = await caches.open(CACHE_NAME);
    const { readable, writable } = new TransformStream();
    const headers = { "content-type": "application/octet-stream", "x-ruvllm-cached-at": new Date().toISOString() };
    if (size !== undefined) headers["x-ruvllm-size"] = String(size);
    if (etag) headers["x-ruvllm-etag"] = etag;
    const put = cache.put(url, new Response(readable, { headers }));
    put.catch(() => {});
    const w = writable.getWriter();
    return {
      write: (chunk) => wrapQuota(() => w.write(chunk)),
      commit: () =>
        wrapQuota(async () => {
          await w.close();
          await put;
        }),
      abort: async () => {
        await w.abort().catch(() => {});
        await cache.delete(url).catch(() => {});
      },
    };
  }
  return null;
}

/** The cached models: [{ url, size, etag, cached_at, storage: "opfs" | "cache" }]. */
export async function listCachedModels() {
  const out = [];
  const dir = await opfsDir(false);
  if (dir) {
    for await (const [name] of dir.entries()) {
      if (!name.endsWith(".json")) continue;
      const meta = await readJson(dir, name);
      if (meta?.url) out.push({ ...meta, storage: "opfs" });
    }
  }
  if (hasCacheApi()) {
    try {
      const cache = await caches.open(CACHE_NAME);
      for (const req of await cache.keys()) {
        const res = await cache.match(req);
        out.push({
          url: req.url,
          size: Number(res?.headers.get("x-ruvllm-size")) || undefined,
          etag: res?.headers.get("x-ruvllm-etag") ?? null,
          cached_at: res?.headers.get("x-ruvllm-cached-at") ?? null,
          storage: "cache",
        });
      }
    } catch {
      // no Cache API here
    }
  }
  return out;
}

/** Removes `url` (absolute, as listed) from the cache. Resolves to true if something was removed. */
export async function deleteCachedModel(url) {
  url = String(url instanceof URL ? url.href : url);
  if (globalThis.location && !/^[a-z][a-z0-9+.-]*:/i.test(url)) url = new URL(url, globalThis.location.href).href;
  let removed = false;
  const dir = await opfsDir(false);
  if (dir) {
    const name = nameOf(url);
    if ((await readJson(dir, `${name}.json`))?.url === url) removed = true;
    await removeEntry(dir, `${name}.json`);
    await removeEntry(dir, `${name}.gguf`);
  }
  if (hasCacheApi()) {
    try {
      removed = (await (await caches.open(CACHE_NAME)).delete(url)) || removed;
    } catch {
      // no Cache API here
    }
  }
  return removed;
}

/** Removes every cached model. */
export async function clearModelCache() {
  if (typeof storage()?.getDirectory === "function") {
    try {
      await (await storage().getDirectory()).removeEntry(DIR, { recursive: true });
    } catch {
      // nothing cached
    }
  }
  if (hasCacheApi()) {
    try {
      await caches.delete(CACHE_NAME);
    } catch {
      // no Cache API here
    }
  }
}
