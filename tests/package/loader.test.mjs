// The web build's loader (init, initSync; pkg-template/loader.mjs writes it
// in a shorter form than wasm-bindgen's) from the installed package, in
// Node: every form of argument wasm-bindgen's takes, its warnings for the
// deprecated forms, its errors, init() again after a failed one.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { exec, project } from "./helpers.mjs";

const SCRIPT = `
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const req = createRequire(import.meta.url);
const bytes = readFileSync(req.resolve("coola-tracker/coola_tracker_bg.wasm"));
const url = new URL("file://" + req.resolve("coola-tracker/web"));
const warned = [];
console.warn = (m) => warned.push(String(m).slice(0, 48));
// A fresh copy of the glue module (its own instance) for each case.
let n = 0;
const fresh = () => import(url.href + "?" + n++);
const out = {};
let m = await fresh();
const sync = m.initSync({ module: bytes });
out.sync = [sync.memory instanceof WebAssembly.Memory, m.initSync() === sync];
m = await fresh();
m.initSync(new WebAssembly.Module(bytes));
out.syncOld = warned.pop();
m = await fresh();
const e = await m.default({ module_or_path: bytes });
out.bytes = [e.memory instanceof WebAssembly.Memory, (await m.default()) === e];
m = await fresh();
await m.default(new WebAssembly.Module(bytes));
out.moduleOld = warned.pop();
m = await fresh();
await m.default({ module_or_path: new Response(bytes, { headers: { "Content-Type": "application/wasm" } }) });
out.response = warned.length;
m = await fresh();
await m.default({ module_or_path: new Response(bytes, { headers: { "Content-Type": "text/plain" } }) });
out.mime = warned.pop();
m = await fresh();
out.notFound = await m.default({ module_or_path: new Response("no", { status: 404, statusText: "Not Found" }) }).catch((x) => x.message);
m = await fresh();
out.failed = await m.default({ module_or_path: Promise.reject(new Error("boom")) }).catch((x) => x.message);
out.again = (await m.default({ module_or_path: bytes })).memory instanceof WebAssembly.Memory;
const t = new m.CoolaTracker({ appKey: "k", flushIntervalMs: 0, persist: false });
out.id = t.track("loaded", { a: 1 }).length;
t.free();
console.log(JSON.stringify(out));
`;

let app;
before(async () => {
  app = await project({ "load.mjs": SCRIPT });
});
after(() => app?.remove());

test("init() and initSync() take every form wasm-bindgen's loader takes, with its warnings and errors", async () => {
  const r = await exec(process.execPath, ["load.mjs"], { cwd: app.dir });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.sync, [true, true]);
  assert.equal(out.syncOld, "using deprecated parameters for `initSync()`; pa");
  assert.deepEqual(out.bytes, [true, true]);
  assert.equal(out.moduleOld, "using deprecated parameters for the initializati");
  assert.equal(out.response, 0, "a Response served as application/wasm streams without a warning");
  assert.equal(out.mime, "`WebAssembly.instantiateStreaming` failed becaus");
  assert.equal(out.notFound, "failed to fetch Wasm: 404 Not Found fetching ''");
  assert.equal(out.failed, "boom");
  assert.equal(out.again, true, "init() runs again after a failed one");
  assert.equal(out.id, 36);
});
