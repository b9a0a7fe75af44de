// Headless Chromium for the browser tests, driven by puppeteer-core (a pinned devDependency;
// `npm ci` installs it) with Debian's /usr/bin/chromium (scripts/setup.sh --test installs it).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";

/** The flags every test's headless Chromium runs with (TOOLCHAIN.md: quiet, no sandbox as root). */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** WebGPU in headless Chromium (TOOLCHAIN.md): SwiftShader's adapter, a fallback one without
 *  shader-f16. Without this flag the browser offers no adapter. */
export const WEBGPU_FLAGS = ["--enable-unsafe-webgpu"];

/** Starts Chromium with a fresh profile (and `args` beyond CHROMIUM_FLAGS); `close()` ends it
 *  and removes the profile. */
export async function launchChromium({ args = [] } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "ruvllm-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    userDataDir: profile,
    args: [...CHROMIUM_FLAGS, ...args],
  });
  return {
    browser,
    async newPage() {
      const page = await browser.newPage();
      page.on("console", (m) => {
        if (m.type() === "error" || process.env.RUVLLM_TEST_VERBOSE) console.log(`     [page ${m.type()}] ${m.text().split("\n")[0]}`);
      });
      page.on("pageerror", (e) => console.log(`     [page error] ${e.message}`));
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}
