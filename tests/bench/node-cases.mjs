// The cases that need no browser, in Node, on the snapshot of pkg/ in .out/:
// track() against the reference, encodeBatch, track() with a long queue
// (Node has no persistence), wasm memory per queued event, start-up.
// Run by bench.mjs as a child process; prints one JSON object.
//   node --expose-gc tests/bench/node-cases.mjs [--reps 7] [--calls 20000] [--scaling-reps 5] [--scaling-calls 1000]
//   node tests/bench/node-cases.mjs --startup-once   (one start-up, in this fresh process)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execFileSync } from "node:child_process";
import { pkgNode, pkgWeb } from "./lib/common.mjs";
import { encoding, EVENT, median, nextTask, now, oneByOne, props, ReferenceTracker } from "./workload.mjs";

// No request leaves the process: fetch never settles.
globalThis.fetch = () => new Promise(() => {});

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const require = createRequire(import.meta.url);
const nodeGlue = join(pkgNode, "coola_tracker.js");
const OPTIONS = { appKey: "benchAppKey", flushIntervalMs: 0, batchSize: 300 };

if (process.argv.includes("--startup-once")) {
  // require() of the Node build compiles and instantiates the wasm
  // synchronously (readFileSync + new WebAssembly.Module + Instance).
  const t0 = now();
  const { CoolaTracker } = require(nodeGlue);
  const t1 = now();
  const t = new CoolaTracker(OPTIONS);
  const t2 = now();
  t.free();
  process.stdout.write(JSON.stringify({ total: t2 - t0, load: t1 - t0, construct: t2 - t1 }));
  process.exit(0);
}

const reps = arg("--reps", 7);
const calls = arg("--calls", 20_000);
const scalingReps = arg("--scaling-reps", 5);
const scalingCalls = arg("--scaling-calls", 1000);
const { CoolaTracker, encodeBatch } = require(nodeGlue);
const out = { node: process.version };

/** oneByOne, with the process's CPU time per call besides the wall time. */
async function timed(track, n) {
  const c0 = process.cpuUsage();
  const { ns } = await oneByOne(track, n);
  const c = process.cpuUsage(c0);
  return { ns, cpu: ((c.user + c.system) * 1000) / n };
}

// track(): coola-tracker and the reference, interleaved rep by rep (so a
// change of load on the machine touches both), a fresh tracker each time.
{
  const runs = { coola: [], ref: [] };
  for (let r = -1; r < reps; r++) {
    for (const which of ["coola", "ref"]) {
      const t = which === "coola" ? new CoolaTracker(OPTIONS) : new ReferenceTracker();
      await nextTask();
      const m = await timed(t.track.bind(t), calls);
      if (r >= 0) runs[which].push(m);
      t.free?.();
      await nextTask();
    }
  }
  const med = (xs, k) => median(xs.map((x) => x[k]));
  out.track = {
    coola: { wall: med(runs.coola, "ns"), cpu: med(runs.coola, "cpu") },
    reference: { wall: med(runs.ref, "ns"), cpu: med(runs.ref, "cpu") },
    calls,
    reps,
  };
}

out.encoding = encoding(encodeBatch, { reps });

// track() with events already queued (no persistence in Node): up to
// 10,000 queued, a fresh tracker filled anew for each rep; above that, the
// one filled tracker serves every rep.
out.scaling = {};
for (const queued of [100, 10_000, 100_000]) {
  let t;
  const runs = [];
  for (let r = 0; r < scalingReps; r++) {
    if (r === 0 || queued <= 10_000) {
      t?.free();
      t = new CoolaTracker({ ...OPTIONS, maxQueueSize: 200_000 });
      for (let i = 0; i < queued; i += 1000) {
        for (let j = 0; j < 1000 && i + j < queued; j++) t.track(EVENT, props(i + j));
        await nextTask();
      }
      // A request in flight (it never settles), as in the bigger cases: the
      // timed calls then never build a request body (that is encoding).
      t.flush();
      await nextTask();
    }
    runs.push(await timed(t.track.bind(t), scalingCalls));
    await nextTask();
  }
  out.scaling[queued] = { ns: median(runs.map((x) => x.ns)), cpu: median(runs.map((x) => x.cpu)), runs, pending: t.pending };
  t.free();
  await nextTask();
}

// wasm memory per queued event: the web build's init returns the exports
// (the Node build keeps its memory to itself); same Rust code, same wasm.
// For comparison, the JS heap per event the reference tracker queues (run
// with --expose-gc for precise figures).
{
  const web = await import(pathToFileURL(join(pkgWeb, "coola_tracker.js")).href);
  const exports = web.initSync({ module: readFileSync(join(pkgWeb, "coola_tracker_bg.wasm")) });
  const heap = async () => {
    for (let i = 0; i < 2; i++) {
      globalThis.gc?.();
      await nextTask();
    }
    return process.memoryUsage().heapUsed;
  };
  const n = 100_000;
  const fill = async (t) => {
    for (let i = 0; i < n; i += 1000) {
      for (let j = 0; j < 1000; j++) t.track(EVENT, props(i + j));
      await nextTask();
    }
  };
  const t = new web.CoolaTracker({ ...OPTIONS, persist: false, maxQueueSize: 200_000 });
  const before = exports.memory.buffer.byteLength;
  const h0 = await heap();
  await fill(t);
  const after = exports.memory.buffer.byteLength;
  const h1 = await heap();
  const r = new ReferenceTracker();
  const h2 = await heap();
  await fill(r);
  const h3 = await heap();
  out.memory = {
    before, after, n, pending: t.pending, perEvent: (after - before) / n,
    jsHeapPerEvent: (h1 - h0) / n, referenceHeapPerEvent: (h3 - h2) / n, referenceQueued: r.queue.length,
  };
  t.free();
}

// Start-up, each in a fresh process (no compiled module cached).
{
  const runs = [];
  for (let r = 0; r < reps; r++) {
    const s = execFileSync(process.execPath, [new URL(import.meta.url).pathname, "--startup-once"], { encoding: "utf8" });
    runs.push(JSON.parse(s));
  }
  out.startup = {
    total: median(runs.map((x) => x.total)),
    load: median(runs.map((x) => x.load)),
    construct: median(runs.map((x) => x.construct)),
  };
}

process.stdout.write(JSON.stringify(out));
process.exit(0);
