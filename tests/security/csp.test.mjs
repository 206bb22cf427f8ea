// No eval, no new Function: the library works under
// `Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'`.
//
// A static check of every shipped JavaScript file, then pages served by the
// local collector with that header (its `csp` option): the ES module build
// and the classic-script drop-in load, track, flush, and the collector
// receives the events, with no CSP violation (securitypolicyviolation
// listener installed before any page script, and the console). Two controls
// prove the header is in force: `new Function` is refused in the same page,
// and without 'wasm-unsafe-eval' the wasm cannot load (and that violation
// is seen, so the "no violation" assertions can fail).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { CSP, PKG, ROOT, launch, newPage, pageResult, requirePkg, startCollector, uniqueApp, waitFor } from "./helpers.mjs";

let browser;
const collectors = [];

before(async () => {
  requirePkg();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await Promise.all(collectors.map((c) => c.close()));
});

async function collectorWith(csp) {
  const c = await startCollector({ csp });
  collectors.push(c);
  return c;
}

function jsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsFiles(p));
    else if (/\.(m|c)?js$/.test(name)) out.push(p);
  }
  return out;
}

// Comments out of the way (the shell says "No eval, no new Function" in one).
function code(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

const FORBIDDEN = [
  [/(^|[^\w$.])eval\s*\(/, "eval("],
  [/\bnew\s+Function\b/, "new Function"],
  [/(^|[^\w$.])Function\s*\(/, "Function("],
  [/\bset(Timeout|Interval)\s*\(\s*["'`]/, "a string timer"],
  [/\bimportScripts\s*\(/, "importScripts("],
  [/\.innerHTML\s*=/, "innerHTML ="],
  [/\bdocument\.write\s*\(/, "document.write("],
];

test("static: no eval, new Function or string timers in the shipped JavaScript", () => {
  const files = [...jsFiles(PKG), join(ROOT, "src", "js", "shell.js"), join(ROOT, "pkg-template", "cooladata.js")];
  assert.ok(files.some((f) => f.endsWith(join("web", "coola_tracker.js"))), "the web glue is there");
  assert.ok(files.some((f) => f.includes(join("web", "snippets"))), "the web snippets are there");
  const found = [];
  for (const f of files) {
    const lines = code(readFileSync(f, "utf8")).split("\n");
    lines.forEach((line, i) => {
      for (const [re, what] of FORBIDDEN) {
        if (re.test(line)) found.push(`${relative(ROOT, f)}:${i + 1}: ${what}: ${line.trim().slice(0, 120)}`);
      }
    });
  }
  assert.deepEqual(found, [], `forbidden constructs:\n${found.join("\n")}`);
});

function cspTrouble(page) {
  return page.logs.filter((l) => /content security policy|refused to|unsafe-eval|EvalError/i.test(l.text));
}

test("the ES module build works under script-src 'self' 'wasm-unsafe-eval'", async () => {
  const c = await collectorWith(CSP);
  const app = uniqueApp("csp");
  const page = await newPage(browser);
  try {
    const res = await page.goto(`${c.url}/csp.html?app=${encodeURIComponent(app)}`);
    assert.equal(res.headers()["content-security-policy"], CSP, "the page is served with the CSP");
    const r = await pageResult(page);
    assert.equal(r.ok, true, `the page failed: ${r.error}\n${JSON.stringify(page.logs, null, 1)}`);
    assert.equal(r.thrown, "nested_property");
    assert.deepEqual(r.errors, [], "onError calls");
    assert.equal(r.first.sent, 2);
    assert.equal(r.pendingAfter, 0);
    assert.equal(r.pure.ts, 1420452000000);
    assert.equal(r.pure.ev.b, "true");
    assert.equal(r.pure.body, "data=");
    const got = await waitFor(() => {
      const e = c.events({ app });
      return e.length >= 3 && e;
    }, { what: "3 events" });
    assert.deepEqual(got.map((e) => e.event_name), ["csp_one", "csp_two", "csp_timer"]);
    assert.deepEqual(got.slice(0, 2).map((e) => e.event_id), r.ids);
    assert.equal(got[1].text, "a+b c&d=é \"q\" <script>");

    assert.deepEqual(r.violations, [], "CSP violations while the library worked");
    assert.deepEqual(page.logs.filter((l) => l.type === "pageerror"), [], "page errors");

    // Control: the header is in force in this very page, and a violation is seen.
    assert.equal(r.control, "EvalError", "new Function must be refused under this CSP");
    assert.ok(r.controlViolations >= 1, "the control's violation was not recorded");
    // The console's CSP messages are the control's only (the library's
    // work caused none: see r.violations).
    const trouble = cspTrouble(page);
    assert.ok(
      trouble.length <= r.controlViolations && trouble.every((l) => /unsafe-eval/.test(l.text)),
      `CSP messages in the console: ${JSON.stringify(trouble)}`,
    );
  } finally {
    await page.context().close();
  }
});

test("the classic-script drop-in (cooladata.global.js) works under the same CSP", async () => {
  const c = await collectorWith(CSP);
  const app = uniqueApp("csp-dropin");
  const page = await newPage(browser);
  try {
    await page.goto(`${c.url}/csp-dropin.html?app=${encodeURIComponent(app)}`);
    const r = await pageResult(page);
    assert.equal(r.ok, true, `trackEvent failed: ${r.error}\n${JSON.stringify(page.logs, null, 1)}`);
    assert.deepEqual(c.events({ app }).map((e) => e.event_name), ["dropin_one"]);
    assert.deepEqual(await page.evaluate(() => window.__violations), [], "CSP violations");
    assert.deepEqual(cspTrouble(page), [], "CSP messages in the console");
  } finally {
    await page.context().close();
  }
});

test("control: without 'wasm-unsafe-eval' the wasm is refused and the violation is seen", async () => {
  const c = await collectorWith("script-src 'self'");
  const app = uniqueApp("csp-control");
  const page = await newPage(browser);
  try {
    await page.goto(`${c.url}/csp.html?app=${encodeURIComponent(app)}`);
    const r = await pageResult(page);
    assert.equal(r.ok, false, "the wasm loaded although the CSP forbids compiling it");
    const violations = await page.evaluate(() => window.__violations);
    assert.ok(
      violations.some((v) => v.directive.startsWith("script-src")),
      `no violation recorded: ${JSON.stringify(violations)}`,
    );
    assert.equal(c.events({ app }).length, 0);
  } finally {
    await page.context().close();
  }
});
