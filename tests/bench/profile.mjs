// Where track()'s time goes in Chromium: a CPU profile (CDP Profiler) of
// coola-tracker's track() on the bench's event, with the wasm functions named.
// Not part of `make bench`; run after `make build`:
//
//   node tests/bench/profile.mjs [--persist] [--calls 3000]
//   node tests/bench/profile.mjs --encode      encodeBatch of 300 events instead
//
// The release wasm has no names once wasm-opt has run, so this rebuilds the
// web glue from the last release build's wasm (target/wasm32-unknown-unknown/
// release/coola_tracker.wasm, what `make build` compiled) with wasm-bindgen,
// then takes `make build`'s steps around wasm-opt: tools/wasm-names.mjs
// exports (the exports no JS reads dropped, so wasm-opt can drop what they
// held), wasm-opt with the Makefile's flags plus -g (keeps the name
// section), tools/wasm-names.mjs imports: the same code, with names. Prints the top functions by self and by
// inclusive time, in % of the samples where the page was busy (idle left out).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { outDir, root } from "./lib/common.mjs";
import { Chromium } from "./lib/browser.mjs";
import { exportApi } from "../../pkg-template/export-api.mjs";

const persist = process.argv.includes("--persist");
const encode = process.argv.includes("--encode");
const i = process.argv.indexOf("--calls");
const calls = i > 0 ? Number(process.argv[i + 1]) : 3000;

const wasmIn = join(root, "target", "wasm32-unknown-unknown", "release", "coola_tracker.wasm");
if (!existsSync(wasmIn)) throw new Error(`${wasmIn} is missing: run \`make build\` first`);
const prof = join(outDir, "prof");
rmSync(prof, { recursive: true, force: true });
mkdirSync(prof, { recursive: true });
const env = { ...process.env, PATH: `${join(homedir(), ".cargo", "bin")}:${join(root, "tools", "node_modules", ".bin")}:${process.env.PATH}` };
execFileSync("wasm-bindgen", ["--target", "web", "--out-dir", prof, wasmIn], { env, stdio: "inherit" });
const names = (step) => execFileSync(process.execPath, [join(root, "tools", "wasm-names.mjs"), step, prof], { env, stdio: "inherit" });
names("exports");
const wasm = join(prof, "coola_tracker_bg.wasm");
// The Makefile's WASM_OPT_FLAGS, read from it (with -Oz alone, wasm-opt
// folds identical functions under one name, and the profile names the
// wrong one), plus -g.
const makefile = readFileSync(join(root, "Makefile"), "utf8");
const line = makefile.match(/^WASM_OPT_FLAGS :=(.*)$/m);
if (!line) throw new Error("no WASM_OPT_FLAGS line in the Makefile");
const flags = [...line[1].trim().split(/\s+/), "-g"];
execFileSync("wasm-opt", [...flags, wasm, "-o", wasm], { env, stdio: "inherit" });
names("imports");
exportApi(prof, false);

const chromium = await Chromium.start();
try {
  const p = await chromium.open();
  await p.evaluate(async (persist) => {
    const { props } = await import("/workload.mjs");
    const m = await import("/.out/prof/coola_tracker.js");
    const bytes = await (await window.bench.realFetch("/.out/prof/coola_tracker_bg.wasm")).arrayBuffer();
    await m.default({ module_or_path: bytes });
    localStorage.clear();
    window.t = new m.CoolaTracker({ appKey: "benchAppKey", flushIntervalMs: 0, batchSize: 300, persist });
    window.props = props;
    for (let i = 0; i < 1000; i++) {
      window.t.track("checkout_step", props(i));
      await null;
    }
  }, persist);
  await p.cdp.send("Profiler.enable");
  await p.cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await p.cdp.send("Profiler.start");
  const ms = await p.evaluate(
    async ([calls, encode]) => {
      const t0 = performance.now();
      if (encode) {
        const { events } = await import("/workload.mjs");
        const m = await import("/.out/prof/coola_tracker.js");
        const evs = events(300);
        for (let i = 0; i < calls / 300; i++) m.encodeBatch(evs, { bodyFormat: "raw" });
      } else {
        for (let i = 0; i < calls; i++) {
          window.t.track("checkout_step", window.props(i));
          await null;
        }
      }
      return performance.now() - t0;
    },
    [calls, encode],
  );
  const { profile } = await p.cdp.send("Profiler.stop");
  await p.close();

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const name = (n) => {
    const f = n.callFrame;
    const where = f.url ? ` (${f.url.split("/").pop()}${f.lineNumber >= 0 ? ":" + (f.lineNumber + 1) : ""})` : "";
    return (f.functionName || "(anonymous)").replace(/::h[0-9a-f]{16}$/, "") + where;
  };
  const self = new Map();
  const incl = new Map();
  let total = 0;
  profile.samples.forEach((id, k) => {
    const dt = profile.timeDeltas[k] || 0;
    const leaf = name(byId.get(id));
    if (leaf === "(idle)") return;
    total += dt;
    self.set(leaf, (self.get(leaf) || 0) + dt);
    const seen = new Set();
    for (let cur = id; cur; cur = parent.get(cur)) {
      const nm = name(byId.get(cur));
      if (seen.has(nm)) continue;
      seen.add(nm);
      incl.set(nm, (incl.get(nm) || 0) + dt);
    }
  });
  const top = (m, n) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`)
      .join("\n");
  const what = encode ? `encodeBatch, ${calls} events in batches of 300` : `track() × ${calls} (persist ${persist ? "on" : "off"})`;
  console.log(`${what}: ${((ms * 1e3) / calls).toFixed(1)} µs per ${encode ? "event" : "call"}, wall, while profiled`);
  console.log(`\nself time:\n${top(self, 25)}\n\ninclusive time:\n${top(incl, 30)}`);
} finally {
  await chromium.close();
}
