// Shared by tests/security/*.test.mjs: the local collector serving the
// pages in ./pages and the built package at /pkg, Debian's Chromium through
// playwright-core (tools/node_modules), and page instrumentation installed
// before any page script runs (console capture, CSP violation listener).

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { CHROMIUM_ARGS } from "../js/chromium.mjs";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, "..", "..");
export const PAGES = join(HERE, "pages");
export const PKG = join(ROOT, "pkg");

/** The distinctive app key every security test uses (with a unique suffix). */
export const SECRET = "APPKEY-SECRET-123";

export const CSP = "script-src 'self' 'wasm-unsafe-eval'";

export function requirePkg() {
  if (!existsSync(join(PKG, "web", "coola_tracker.js"))) {
    throw new Error("pkg/ is not built: run `make build` (make test-security does)");
  }
}

export async function startCollector(options = {}) {
  const { startCollector: start } = await import(join(ROOT, "www", "collector", "collector.mjs"));
  return start({ port: 0, host: "127.0.0.1", static: PAGES, mounts: { "/pkg": PKG }, ...options });
}

export async function launch() {
  const require = createRequire(join(ROOT, "tools", "package.json"));
  const { chromium } = require("playwright-core");
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

let counter = 0;
export function uniqueApp(tag) {
  counter += 1;
  return `${SECRET}-${tag}-${Date.now().toString(36)}-${counter}`;
}

// Runs in the page before its own scripts (added through the DevTools
// protocol, so a CSP does not apply to it): records CSP violations and
// every console call the page's code makes, with its arguments serialized.
function instrument() {
  const violations = [];
  const consoleCalls = [];
  Object.defineProperty(window, "__violations", { value: violations });
  Object.defineProperty(window, "__console", { value: consoleCalls });
  document.addEventListener("securitypolicyviolation", (e) => {
    violations.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile });
  });
  const show = (a) => {
    try {
      if (typeof a === "string") return a;
      if (a instanceof Error) {
        const own = {};
        for (const k of Object.getOwnPropertyNames(a)) own[k] = String(a[k]);
        return `${a.name}: ${a.message} ${JSON.stringify(own)}`;
      }
      return JSON.stringify(a) ?? String(a);
    } catch (_) {
      return String(a);
    }
  };
  for (const level of ["log", "info", "warn", "error", "debug", "trace", "dir", "dirxml", "table", "group", "assert"]) {
    const orig = console[level];
    if (typeof orig !== "function") continue;
    console[level] = function (...args) {
      try {
        consoleCalls.push(`${level}: ${args.map(show).join(" ")}`);
      } catch (_) {}
      return orig.apply(this, args);
    };
  }
}

/** A page in a fresh context, instrumented; `page.logs` collects console and page errors. */
export async function newPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(instrument);
  const logs = [];
  page.on("console", (m) => logs.push({ type: m.type(), text: m.text(), url: m.location()?.url || "" }));
  page.on("pageerror", (e) => logs.push({ type: "pageerror", text: `${e.name}: ${e.message}\n${e.stack}`, url: "" }));
  page.logs = logs;
  return page;
}

export async function waitFor(fn, { timeout = 10_000, interval = 50, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Waits for `window.result` (set by the page scripts in ./pages) and returns it. */
export async function pageResult(page, timeout = 15_000) {
  const h = await page.waitForFunction(() => window.result, null, { timeout });
  return h.jsonValue();
}
