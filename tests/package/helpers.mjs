// Shared by the package tests: the packed tarball installed into a temp
// project, the local collector, headless Chromium, child processes.
//
// Every test installs what `npm pack` of pkg/ produced, as users get it. The
// Makefile packs once and passes the tarball in COOLA_TARBALL; run alone
// (`node --test tests/package/x.test.mjs`) a test packs pkg/ itself.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { CHROMIUM_ARGS } from "../js/chromium.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const PKG = join(ROOT, "pkg");
export const TOOLS = join(ROOT, "tools", "node_modules");
export const FIXTURES = join(ROOT, "tests", "package", "fixtures");
const run = promisify(execFile);

/**
 * The ```js blocks under `heading` (up to the next `## ` heading) of README.md (or `file`), read now, in
 * order (tests/package/readme.test.mjs runs the examples, types.test.mjs type-checks them all).
 */
export function readmeBlocks(heading, file = join(ROOT, "README.md")) {
  const lines = readFileSync(file, "utf8").split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim() === heading);
  assert.ok(start >= 0, `${file} has no heading "${heading}"`);
  const blocks = [];
  for (let i = start + 1; i < lines.length && !/^##\s/.test(lines[i]); i++) {
    if (!/^```js\s*$/.test(lines[i])) continue;
    const close = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    assert.ok(close > i, `a \`\`\`js block under "${heading}" is not closed`);
    blocks.push(lines.slice(i + 1, close).join("\n") + "\n");
    i = close;
  }
  return blocks;
}

/**
 * The first ```js block under `heading` (before the next `## ` heading) of README.md (or `file`), read now;
 * it must import the package.
 */
export function readmeBlock(heading, file = join(ROOT, "README.md")) {
  const [code] = readmeBlocks(heading, file);
  assert.ok(code, `README.md has no \`\`\`js block under "${heading}"`);
  assert.match(code, /from\s+["']coola-tracker(\/edge|\/cooladata)?["']/, `the "${heading}" example imports "coola-tracker"`);
  return code;
}

/** Every ```js block of README.md (or `file`), in order. */
export function readmeAllBlocks(file = join(ROOT, "README.md")) {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^```js[ \t]*\r?\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1].replace(/\r\n/g, "\n"));
}

/** Imports a dev tool from tools/node_modules by its package name. */
export async function tool(name) {
  const pkg = JSON.parse(readFileSync(join(TOOLS, name, "package.json"), "utf8"));
  let entry = pkg.exports?.["."] ?? pkg.module ?? pkg.main ?? "index.js";
  for (let i = 0; i < 5 && entry && typeof entry === "object"; i++) {
    entry = entry.import ?? entry.node ?? entry.default ?? entry.require;
  }
  return import(pathToFileURL(join(TOOLS, name, typeof entry === "string" ? entry : "index.js")).href);
}

export const { startCollector } = await import(pathToFileURL(join(ROOT, "www", "collector", "collector.mjs")).href);

let packed;
/** The package tarball: COOLA_TARBALL, or `npm pack` of pkg/ into a temp dir. */
export async function tarball() {
  if (process.env.COOLA_TARBALL) return process.env.COOLA_TARBALL;
  if (packed) return packed;
  if (!existsSync(join(PKG, "package.json"))) throw new Error("pkg/ is missing: run `make build` first");
  const dir = mkdtempSync(join(tmpdir(), "coola-pack-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const { stdout } = await run("npm", ["pack", PKG, "--pack-destination", dir, "--json", "--loglevel=error"]);
  packed = join(dir, JSON.parse(stdout)[0].filename);
  return packed;
}

/**
 * A temp project with the tarball installed (`npm install <tarball>`), and
 * `files` ({ relativePath: text }) written into it. Removed by `remove()`.
 */
export async function project(files = {}, { type = "module" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "coola-app-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "coola-app", private: true, type }, null, 2));
  await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", await tarball()], {
    cwd: dir,
    env: { ...process.env, npm_config_update_notifier: "false" },
  });
  write(dir, files);
  return {
    dir,
    pkgDir: join(dir, "node_modules", "coola-tracker"),
    write: (more) => write(dir, more),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function write(dir, files) {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
}

/** Copies a fixture folder of tests/package/fixtures into `dest`. */
export function copyFixture(name, dest) {
  cpSync(join(FIXTURES, name), dest, { recursive: true });
}

/** Runs a command; resolves { code, signal, stdout, stderr, ms } (never rejects). */
export function exec(cmd, args, { cwd, timeout = 30_000, env } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Polls `fn` until it returns a truthy value; throws after `timeout` ms. */
export async function waitFor(fn, { timeout = 10_000, interval = 50, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export { CHROMIUM_ARGS };

/** Debian's Chromium through playwright-core (never a downloaded browser). */
export async function chromium(extraArgs = []) {
  const { chromium } = await tool("playwright-core");
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

/**
 * A page in a fresh browser context (its own localStorage: tests do not see
 * each other's queues); its console lines and page errors are kept in
 * `page.consoleLines` for messages. Close it with `page.context().close()`.
 */
export async function newPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const lines = [];
  page.on("console", (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => lines.push(`pageerror: ${e.message}`));
  page.consoleLines = lines;
  return page;
}

/**
 * Opens a README example's page at `url` and waits for it to set
 * `window.readmeReady` (its module ran to the end); fails with the page's
 * console lines when it does not.
 */
export async function openExample(page, url) {
  await page.goto(url);
  await page
    .waitForFunction(() => window.readmeReady === true, null, { timeout: 10_000 })
    .catch((e) => assert.fail(`the README example did not finish loading: ${e.message}\n${page.consoleLines.join("\n")}`));
}

/**
 * An esbuild plugin doing what wrangler does with `import wasm from "./x.wasm"`:
 * the .wasm becomes an external module beside the bundle (a CompiledWasm module
 * for workerd).
 */
export const wasmModules = (outdir) => ({
  name: "wasm-modules",
  setup(b) {
    b.onResolve({ filter: /\.wasm$/ }, (args) => {
      const from = join(args.resolveDir, args.path);
      mkdirSync(outdir, { recursive: true });
      copyFileSync(from, join(outdir, basename(from)));
      return { path: `./${basename(from)}`, external: true };
    });
  },
});
