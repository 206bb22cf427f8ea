// A/B of track() in the tight loop: two or more builds of the package (copies
// of pkg/ made after `make build`) and the pure-JS reference, measured in ONE
// run, rep by rep in turn (build A, build B, ..., reference), so that a change
// of load on the shared machine touches each alike. Not part of `make bench`:
//
//   make build && cp -r pkg /tmp/ab/before      (then change, rebuild:)
//   make build && cp -r pkg /tmp/ab/after
//   node tests/bench/ab.mjs /tmp/ab/before /tmp/ab/after [--reps 5] [--persist]
//
// Each rep is the bench's "coola-nopersist-tight" row (or "coola-tight" with
// --persist) and its "reference-tight" row: a fresh context, the same warm-up,
// 2,000 calls in one task. Prints, per build, the median wall and main-thread
// CPU ns per call and their ratio to the reference's medians of the same run.
import { cpSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { benchDir, esbuild, fmtNs, median, outDir, pkgDir } from "./lib/common.mjs";
import { Chromium, cpuOverhead, trackRep } from "./lib/browser.mjs";

const argv = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const reps = flag("--reps", 5);
const persist = argv.includes("--persist");
const builds = argv.filter((a, i) => !a.startsWith("--") && !(i > 0 && argv[i - 1] === "--reps"));
if (!builds.length) throw new Error("usage: node tests/bench/ab.mjs PKG_DIR [PKG_DIR...] [--reps N] [--persist]");

/** Puts build `dir` where the page loads coola-tracker from (.out/pkg, .out/coola-tracker.js). */
async function install(dir) {
  rmSync(pkgDir, { recursive: true, force: true });
  cpSync(dir, pkgDir, { recursive: true });
  await esbuild().build({
    entryPoints: [join(benchDir, "entries", "coola-tracker.mjs")],
    outfile: join(outDir, "coola-tracker.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
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
console.log(`track() tight loop, ${persist ? "defaults" : "persist: false"}, medians of ${reps} reps (wall / main-thread CPU per call):`);
for (const row of rows) {
  const [w, c] = [median(row.wall), median(row.cpu)];
  console.log(`  ${row.name.padEnd(14)} ${fmtNs(w).padStart(9)} / ${fmtNs(c).padStart(9)}   ${(w / rw).toFixed(2)}x / ${(c / rc).toFixed(2)}x the reference`);
}
