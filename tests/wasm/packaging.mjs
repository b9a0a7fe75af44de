// The npm package as a user gets it: `npm pack` of pkg/ is installed into a fresh copy of a tiny
// web app (tests/vite_app: its own package.json and lockfile pinning Vite), which is
//   1. built with Vite (`vite build`) and served from dist/ with COOP/COEP -> the threaded build,
//   2. the same dist/ served without them                               -> the single build,
//   3. served unbundled, as a plain <script type="module"> page that imports the package from
//      node_modules through an import map (plain.html), with COOP/COEP  -> the threaded build,
// and each page, in headless Chromium, generates 32 greedy tokens for stable raw prompts of
// tests/fixtures/llamacpp/greedy.jsonl: the text must be llama.cpp's.
//   node tests/wasm/packaging.mjs   (after `npm run build`)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "../../scripts/serve.mjs";
import { check, failures } from "./check.mjs";
import { launchChromium } from "./chromium.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const prompts = readFileSync(path.join(repo, "tests/fixtures/llamacpp/greedy.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))
  .filter((r) => r.stable_first_32 === true && r.kind === "raw")
  .slice(0, 2)
  .map((r) => ({ prompt: r.prompt, expectedIds: r.generated_ids.slice(0, 32) }));
assert.equal(prompts.length, 2, "stable raw prompts in the llama.cpp fixtures");

const work = mkdtempSync(path.join(tmpdir(), "ruvllm-packaging-"));
const npm = (args, cwd) => execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
const servers = [];
const chromium = await launchChromium();
try {
  // The tarball, exactly what `npm publish` would upload.
  const packed = JSON.parse(npm(["pack", path.join(repo, "pkg"), "--pack-destination", work, "--json"], work));
  const tarball = path.join(work, packed[0].filename);
  const shipped = packed[0].files.map((f) => f.path);
  for (const f of ["engine.js", "engine.d.ts", "worker.js", "pool_worker.js", "ruvllm_bg.wasm", "ruvllm_threaded_bg.wasm"]) {
    assert.ok(shipped.includes(f), `the tarball ships ${f}`);
  }
  console.log(`ok   npm pack: ${packed[0].filename}, ${shipped.length} files, ${(packed[0].size / 1e6).toFixed(1)} MB`);

  // A fresh app: Vite from its lockfile, then the tarball, as a user would add it.
  const app = path.join(work, "app");
  cpSync(path.join(repo, "tests/vite_app"), app, { recursive: true, filter: (src) => !["node_modules", "dist"].includes(path.basename(src)) });
  npm(["ci"], app);
  npm(["install", "--no-save", tarball], app);
  execFileSync(process.execPath, [path.join(app, "node_modules/vite/bin/vite.js"), "build"], { cwd: app, stdio: "inherit" });
  const emitted = readdirSync(path.join(app, "dist/assets"));
  console.log(`ok   vite build: dist/assets has ${emitted.join(", ")}`);

  const serve = async (root, isolate) => {
    const server = createStaticServer({ routes: { "/": root, "/models/": path.dirname(modelPath) }, isolate });
    servers.push(server);
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${server.address().port}`;
  };
  const run = async (origin, page) => {
    const tab = await chromium.newPage();
    try {
      await tab.goto(`${origin}/${page}`);
      await tab.waitForFunction(() => document.body?.dataset.ready === "yes", { timeout: 30_000 });
      return await tab.evaluate((args) => window.greedy(args), {
        model: `/models/${path.basename(modelPath)}`,
        prompts,
        maxTokens: 32,
      });
    } finally {
      await tab.close();
    }
  };
  const cases = [
    { name: "Vite build, cross-origin isolated", root: path.join(app, "dist"), isolate: true, page: "", build: "threaded" },
    { name: "Vite build, not isolated", root: path.join(app, "dist"), isolate: false, page: "", build: "single" },
    { name: "plain <script type=module> page", root: app, isolate: true, page: "plain.html", build: "threaded" },
  ];
  for (const c of cases) {
    await check(`${c.name}: the ${c.build} build, llama.cpp's greedy text`, async () => {
      const r = await run(await serve(c.root, c.isolate), c.page);
      assert.equal(r.info.build, c.build);
      assert.equal(r.info.worker, true, "the engine runs in its own Worker");
      for (const t of r.results) {
        assert.equal(t.text, t.expected, `llama.cpp's greedy text for ${JSON.stringify(t.prompt)}`);
        assert.equal(t.usage.generated_tokens, 32);
      }
      console.log(`     ${r.info.build}, ${r.info.threads} thread(s): ${JSON.stringify(r.results[0].text.slice(0, 40))}...`);
    });
  }
} finally {
  await chromium.close();
  for (const s of servers) s.close();
  rmSync(work, { recursive: true, force: true });
}
if (failures()) {
  console.log(`${failures()} packaging check(s) failed`);
  process.exit(1);
}
console.log("the packed npm package works in a Vite app and in a plain module page");
