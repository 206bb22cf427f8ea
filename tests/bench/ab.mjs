// A/B of track() in the tight loop: two or more builds of the package (copies
// of pkg/ made after `make build`) and the pure-JS reference, measured in ONE
// run, rep by rep in turn (build A, build B, ..., reference), so that a change
// of load on the shared machine touches each alike. Not part of `make bench`:
//
//   make build && cp -r pkg /tmp/ab/before      (then change, rebuild:)
//   make build && cp -r pkg /tmp/ab/after
//   node tests/bench/ab.mjs /tmp/ab/before /tmp/ab/after [--reps 5] [--persist]
//   node tests/bench/ab.mjs /tmp/ab/before /tmp/ab/after --node [--reps 80]
//
// Each rep is the bench's "coola-nopersist-tight" row (or "coola-tight" with
// --persist) and its "reference-tight" row: a fresh context, the same warm-up,
// 2,000 calls in one task. Prints, per build, the median wall and main-thread
// CPU ns per call and their ratio to the reference's medians of the same run.
//
// --node: the builds' Node glue side by side in this one process (no page:
// the wasm half and the crossing, without page_url / page_title), bursts of
// 2,000 calls (persist off) interleaved build by build; the median and the
// minimum ns per call. Far steadier than Chromium's fresh contexts on a
// loaded machine, so the one to judge a change inside the wasm by.
import { cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, join } from "node:path";
import { BROWSER_BUNDLE, benchDir, esbuild, fmtNs, median, outDir, pkgDir } from "./lib/common.mjs";
import { Chromium, cpuOverhead, trackRep } from "./lib/browser.mjs";

const argv = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const node = argv.includes("--node");
const reps = flag("--reps", node ? 80 : 5);
const persist = argv.includes("--persist");
const builds = argv.filter((a, i) => !a.startsWith("--") && !(i > 0 && argv[i - 1] === "--reps"));
if (!builds.length) throw new Error("usage: node tests/bench/ab.mjs PKG_DIR [PKG_DIR...] [--reps N] [--persist | --node]");
if (node) {
  await inNode();
  process.exit(0);
}

async function inNode() {
  const { EVENT, props } = await import("./workload.mjs");
  globalThis.fetch = () => new Promise(() => {});
  const require = createRequire(import.meta.url);
  const tick = () => new Promise((r) => setImmediate(r));
  const rows = builds.map((dir) => ({ name: basename(dir), make: require(join(dir, "node", "coola_tracker.js")).CoolaTracker, ns: [] }));
  const fresh = (row) => new row.make({ appKey: "benchAppKey", flushIntervalMs: 0, batchSize: 300, persist: false });
  // Warm-up: V8 moves the hot wasm functions to its optimising tier after some 20,000 calls.
  for (const row of rows) {
    const t = fresh(row);
    for (let i = 0; i < 40_000; i++) {
      t.track(EVENT, props(i));
      if (i % 2000 === 1999) await tick();
    }
    t.free();
  }
  for (let r = 0; r < reps; r++) {
    for (const row of rows) {
      const t = fresh(row);
      for (let i = 0; i < 300; i++) t.track(EVENT, props(i));
      await tick();
      const t0 = performance.now();
      for (let i = 0; i < 2000; i++) t.track(EVENT, props(i));
      row.ns.push(((performance.now() - t0) * 1e6) / 2000);
      t.free();
      await tick();
    }
  }
  console.log(`track() in Node, bursts of 2,000 calls, ${reps} rounds (median / min per call):`);
  for (const row of rows) console.log(`  ${row.name.padEnd(14)} ${fmtNs(median(row.ns)).padStart(9)} / ${fmtNs(Math.min(...row.ns)).padStart(9)}`);
}

/** Puts build `dir` where the page loads coola-tracker from (.out/pkg, .out/coola-tracker.js). */
async function install(dir) {
  rmSync(pkgDir, { recursive: true, force: true });
  cpSync(dir, pkgDir, { recursive: true });
  await esbuild().build({
    entryPoints: [join(benchDir, "entries", "coola-tracker.mjs")],
    outfile: join(outDir, "coola-tracker.js"),
    ...BROWSER_BUNDLE,
  });
}

const WARM = { throwaway: 30_000, ms: 4000, inPlace: 300 };
const opts = { calls: 2000, warm: WARM, budgetMs: 1000, settleMs: 2500, tight: true };
const rows = [...builds.map((dir) => ({ name: basename(dir), dir, wall: [], cpu: [] })), { name: "reference", wall: [], cpu: [] }];

const chromium = await Chromium.start();
try {
  const overhead = await cpuOverhead(chromium);
  for (let r = 0; r < reps; r++) {
    for (const row of rows) {
      if (row.dir) await install(row.dir);
      const x = await trackRep(chromium, row.dir ? "coola-tracker" : "reference", { ...opts, overhead, options: { persist } });
      if (x.errors.length) throw new Error(`${row.name}: ${x.errors[0]}`);
      row.wall.push(x.wall);
      row.cpu.push(x.cpu);
    }
    console.error(`rep ${r + 1}/${reps}: ` + rows.map((w) => `${w.name} ${fmtNs(w.wall.at(-1))} / ${fmtNs(w.cpu.at(-1))}`).join(", "));
  }
} finally {
  await chromium.close();
}
const ref = rows.at(-1);
const [rw, rc] = [median(ref.wall), median(ref.cpu)];
console.log(`track() tight loop, ${persist ? "defaults" : "persist: false"}, medians of ${reps} reps (wall / main-thread CPU per call; min CPU):`);
for (const row of rows) {
  const [w, c] = [median(row.wall), median(row.cpu)];
  const ratios = `${(w / rw).toFixed(2)}x / ${(c / rc).toFixed(2)}x the reference`;
  console.log(`  ${row.name.padEnd(14)} ${fmtNs(w).padStart(9)} / ${fmtNs(c).padStart(9)}   ${ratios}; min ${fmtNs(Math.min(...row.cpu))}`);
}
