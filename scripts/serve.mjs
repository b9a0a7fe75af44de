#!/usr/bin/env node
// A small static file server for the demo and the browser tests (no dependencies).
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--models DIR]
// serves www/ at /, pkg/ at /pkg/ and the models directory at /models/, with COOP/COEP headers
// (cross-origin isolated, as the threaded build will need; the single-threaded build works with or
// without them). Files are streamed with Content-Length and an ETag (size and mtime); HEAD works.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * An http.Server for `routes` ({ "/prefix/": directory }, longest prefix first; "/" maps to
 * index.html for directories). `isolate`: send COOP/COEP/CORP headers. `onRequest(req, url)` sees
 * every request first (the tests count requests); if it returns true, it has answered.
 */
export function createStaticServer({ routes, isolate = true, onRequest }) {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  return createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (isolate) {
      res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
      res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
      res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    }
    if (onRequest?.(req, url, res)) return;
    const fail = (status) => {
      res.statusCode = status;
      res.end();
    };
    if (req.method !== "GET" && req.method !== "HEAD") return fail(405);
    let pathname;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      return fail(400);
    }
    const prefix = prefixes.find((p) => pathname.startsWith(p));
    if (!prefix) return fail(404);
    const root = path.resolve(routes[prefix]);
    let file = path.resolve(root, "." + path.posix.normalize("/" + pathname.slice(prefix.length)));
    if (file !== root && !file.startsWith(root + path.sep)) return fail(403);
    let st = statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      file = path.join(file, "index.html");
      st = statSync(file, { throwIfNoEntry: false });
    }
    if (!st?.isFile()) return fail(404);
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    res.setHeader("Content-Type", TYPES[path.extname(file)] ?? "application/octet-stream");
    res.setHeader("Content-Length", st.size);
    res.setHeader("ETag", etag);
    res.setHeader("Cache-Control", "no-cache");
    if (req.headers["if-none-match"] === etag) return fail(304);
    if (req.method === "HEAD") return res.end();
    const stream = createReadStream(file);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const port = Number(arg("port", process.env.PORT ?? 8080));
  const host = arg("host", "127.0.0.1");
  const models = arg("models", process.env.RUVLLM_MODEL_DIR ?? path.join(repo, "models"));
  const server = createStaticServer({
    routes: { "/": path.join(repo, "www"), "/pkg/": path.join(repo, "pkg"), "/models/": models },
  });
  server.listen(port, host, () => {
    console.log(`ruvllm demo: http://${host === "127.0.0.1" ? "localhost" : host}:${port}/ (www/, /pkg/, /models/ from ${models})`);
  });
}
