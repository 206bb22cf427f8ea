// `make bench`: size and speed of coola-tracker next to a minimal pure-JS
// reference and to the peer SDKs, each figure measured in this one run.
// Prints a markdown table and writes it to tests/bench/results.md.
//
//   node tests/bench/bench.mjs            the full run (about 10 minutes on 2 cores)
//   node tests/bench/bench.mjs --quick    fewer repetitions, for trying the bench itself
//
// Timings are medians of repetitions; the Chromium ones run rep by rep
// across all contenders (rep 1 of each, then rep 2 of each, ...), so that a
// change of load on a shared machine touches every contender alike. Compare
// ratios within one run, not absolute figures across runs.
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchDir, fmtMs, fmtNs, median, outDir, ratio, table } from "./lib/common.mjs";
import { Chromium, cpuOverhead, encodingCase, memoryCase, scalingCase, sendPathCase, trackRep } from "./lib/browser.mjs";
import { budgetTables } from "./lib/budget.mjs";
import { breakdown, weigh, weightRows } from "./lib/weight.mjs";

const QUICK = process.argv.includes("--quick");
const REPS = QUICK ? 3 : 7;
/** Chromium track(): calls per rep; a rep stops early past the budget (slow trackers). */
const CALLS = 2000;
/**
 * The warm-up before the timed calls. coola-tracker and the reference: a
 * throwaway tracker called 30,000 times (at most 4 s; V8 moves coola-tracker's
 * hot wasm functions to its optimising tier only after some 20,000 calls),
 * then 300 calls on the timed tracker, so that its first batch is in flight.
 * The peers, far slower, warm on the timed tracker itself (at most 500 ms):
 * a throwaway peer would go on working in the background.
 */
const WARM_OURS = { throwaway: 30_000, ms: 4000, inPlace: 300 };
const WARM_PEER = { inPlace: 2000, inPlaceMs: 500 };
const BUDGET_MS = 1000;
const SETTLE_MS = 2500;
const NODE_CALLS = QUICK ? 5000 : 20_000;
const SCALING_REPS = QUICK ? 3 : 5;
const SCALING_CALLS = 1000;

const t0 = Date.now();
const log = (m) => console.error(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${m}`);
const fmtKB = (b) => (b / 1024).toFixed(1) + " KiB";
const pair = (a, b, f = fmtNs) => `${f(a)} / ${f(b)}`;

// ---- weight -----------------------------------------------------------------
log("bundling coola-tracker and the peers with esbuild");
const bundles = await weigh((m) => log(m));
const coolaBundle = bundles.find((b) => b.id === "coola-tracker");
const weight = weightRows(bundles);
const timedPeers = bundles.filter((b) => b.id !== "coola-tracker" && !b.weightOnly && !b.error);

// ---- Node ---------------------------------------------------------------------
log(`Node: track() ${REPS} × ${NODE_CALLS.toLocaleString("en")} calls, encodeBatch, scaling, memory, start-up`);
let node;
try {
  node = JSON.parse(
    execFileSync(process.execPath, ["--expose-gc", join(benchDir, "node-cases.mjs"), "--reps", String(REPS), "--calls", String(NODE_CALLS), "--scaling-reps", String(SCALING_REPS), "--scaling-calls", String(SCALING_CALLS)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 300_000,
    }),
  );
} catch (e) {
  node = { error: e.message.split("\n")[0] };
  log("Node cases failed: " + node.error);
}

// ---- Chromium -----------------------------------------------------------------
log("Chromium: starting");
const chromium = await Chromium.start();
const ch = { version: chromium.version, track: {}, startup: {} };
try {
  const overhead = await cpuOverhead(chromium);
  const contenders = [
    { key: "coola", id: "coola-tracker", options: {}, warm: WARM_OURS },
    { key: "coola-nopersist", id: "coola-tracker", options: { persist: false }, warm: WARM_OURS },
    { key: "reference", id: "reference", warm: WARM_OURS },
    // The tight loop: the same calls in one task, no await between them.
    { key: "coola-tight", id: "coola-tracker", options: {}, warm: WARM_OURS, tight: true },
    { key: "coola-nopersist-tight", id: "coola-tracker", options: { persist: false }, warm: WARM_OURS, tight: true },
    { key: "reference-tight", id: "reference", warm: WARM_OURS, tight: true },
    // Overflowing: the 2,000 calls on a queue capped at 1,000 (its 300 in flight).
    { key: "coola-overflow-tight", id: "coola-tracker", options: { persist: false, maxQueueSize: 1000 }, warm: WARM_OURS, tight: true },
    ...timedPeers.map((b) => ({ key: b.id, id: b.id, warm: WARM_PEER })),
  ];
  for (const c of contenders) ch.track[c.key] = { reps: [], errors: [] };
  for (let r = 0; r < REPS; r++) {
    log(`Chromium: start-up + track() rep ${r + 1}/${REPS} (${contenders.length} contenders, ≤${CALLS} calls each, fresh context each)`);
    for (const c of contenders) {
      const slot = ch.track[c.key];
      if (slot.failed) continue;
      try {
        const x = await trackRep(chromium, c.id, { calls: CALLS, warm: c.warm, budgetMs: BUDGET_MS, settleMs: SETTLE_MS, options: c.options, overhead, tight: c.tight });
        slot.reps.push(x);
        slot.errors.push(...x.errors);
      } catch (e) {
        slot.failed = e.message;
        log(`  ${c.key}: ${e.message}`);
      }
    }
  }
  log("Chromium: encodeBatch");
  ch.encoding = await encodingCase(chromium, { reps: REPS, loops: 20 });
  log("Chromium: send path (a queued 300-event batch into its request body)");
  try {
    ch.sendPath = await sendPathCase(chromium, { reps: 2 * REPS + 1 });
  } catch (e) {
    ch.sendPath = { error: e.message };
  }
  ch.scaling = {};
  for (const persist of [false, true]) {
    for (const queued of [100, 10_000, 100_000]) {
      log(`Chromium: track() with ${queued.toLocaleString("en")} queued, persist ${persist ? "on" : "off"}`);
      try {
        ch.scaling[`${queued}-${persist}`] = await scalingCase(chromium, { queued, persist, reps: SCALING_REPS, calls: SCALING_CALLS });
      } catch (e) {
        ch.scaling[`${queued}-${persist}`] = { error: e.message };
      }
    }
  }
  log("Chromium: wasm memory over 100,000 queued events");
  ch.memory = await memoryCase(chromium, 100_000);
  ch.blocked = Object.fromEntries(chromium.blocked || []);
} finally {
  await chromium.close();
}

// ---- the table -----------------------------------------------------------------
const rows = [...weight.rows];
const notes = [...weight.notes];
const sect = (title) => rows.push([title, "", "", ""]);

const med = (reps, k) => median(reps.map((x) => x[k]));
const trk = (key) => {
  const s = ch.track[key];
  if (!s || s.failed || !s.reps.length) return null;
  const unsettled = s.reps.filter((x) => !x.settled).length;
  return {
    wall: med(s.reps, "wall"),
    cpu: med(s.reps, "cpu"),
    calls: med(s.reps, "calls"),
    minCalls: Math.min(...s.reps.map((x) => x.calls)),
    unsettled,
    n: s.reps.length,
  };
};
const trkCell = (t) => {
  if (!t) return "n/a";
  // The median CPU figure is a lower bound when half the reps or more did not go idle.
  let cell = `${fmtNs(t.wall)} / ${t.unsettled * 2 >= t.n ? "≥ " : ""}${fmtNs(t.cpu)}`;
  if (t.calls < CALLS) cell += ` (${Math.round(t.calls)} calls/rep)`;
  return cell;
};
const trkRatio = (a, b) => (a && b ? `${ratio(a.wall, b.wall)} / ${ratio(a.cpu, b.cpu)}` : "n/a");

sect(
  `**track()**, Chromium ${ch.version}, 10-property event, per call: wall / main-thread CPU (median of ${REPS} fresh pages × ≤${CALLS.toLocaleString("en")} calls)`,
);
const coola = trk("coola");
const coolaNp = trk("coola-nopersist");
const ref = trk("reference");
rows.push(["vs minimal pure-JS reference; coola `persist: false`", trkCell(coolaNp), trkCell(ref), trkRatio(coolaNp, ref)]);
rows.push(["vs minimal pure-JS reference; coola defaults (localStorage on)", trkCell(coola), trkCell(ref), trkRatio(coola, ref)]);
{
  const tightCell = (t) => (t ? `${fmtNs(t.wall)} / ${t.unsettled * 2 >= t.n ? "≥ " : ""}${fmtNs(t.cpu)}` : "n/a");
  const ref = trk("reference-tight");
  rows.push(["tight loop (2,000 calls in one task, no await); coola `persist: false` (goal ≤ 2×)", tightCell(trk("coola-nopersist-tight")), tightCell(ref), trkRatio(trk("coola-nopersist-tight"), ref)]);
  rows.push(["tight loop; coola defaults (localStorage on: its writes at the end of the task count)", tightCell(trk("coola-tight")), tightCell(ref), trkRatio(trk("coola-tight"), ref)]);
  const over = trk("coola-overflow-tight");
  rows.push(["tight loop overflowing maxQueueSize (1,000; `persist: false`) vs not overflowing (goal ≤ 1×)", tightCell(over), tightCell(trk("coola-nopersist-tight")), trkRatio(over, trk("coola-nopersist-tight"))]);
  for (const k of ["coola-tight", "coola-nopersist-tight", "reference-tight", "coola-overflow-tight"]) if (ch.track[k]?.failed) notes.push(`track() ${k}: ${ch.track[k].failed}`);
}
const cold = (key) => {
  const s = ch.track[key];
  return s && s.reps.length && s.reps[0].startup.cold != null ? median(s.reps.map((x) => x.startup.cold)) : null;
};
{
  const a = cold("coola-nopersist");
  const b = cold("reference");
  if (a != null && b != null) rows.push(["cold: the first 2,000 calls in a fresh page, wall; coola `persist: false` vs reference", fmtNs(a), fmtNs(b), ratio(a, b)]);
}
for (const b of timedPeers) {
  const p = trk(b.id);
  const s = ch.track[b.id];
  rows.push([`vs ${b.label} ${b.version} (defaults); coola defaults`, trkCell(coola), p ? trkCell(p) : `failed: ${s.failed}`, trkRatio(coola, p)]);
  if (p && p.unsettled) notes.push(`${b.label}: in ${p.unsettled} of ${REPS} reps the page was still busy ${SETTLE_MS / 1000} s after the calls (work deferred to timers), so its CPU figure is a lower bound (≥).`);
  if (s.errors.length) notes.push(`${b.label}: page errors: ${[...new Set(s.errors)].slice(0, 2).join("; ")}`);
}
for (const k of ["coola", "coola-nopersist", "reference"]) if (ch.track[k]?.failed) notes.push(`track() ${k}: ${ch.track[k].failed}`);

if (!node.error) {
  sect(`**track()**, Node ${node.node}, per call: wall / process CPU (median of ${REPS} × ${NODE_CALLS.toLocaleString("en")} calls)`);
  rows.push([
    "vs minimal pure-JS reference",
    pair(node.track.coola.wall, node.track.coola.cpu),
    pair(node.track.reference.wall, node.track.reference.cpu),
    `${ratio(node.track.coola.wall, node.track.reference.wall)} / ${ratio(node.track.coola.cpu, node.track.reference.cpu)}`,
  ]);
}

sect("**encoding**: 300 queued events → request body, per event (`encodeBatch`, raw body; validates too)");
const encRow = (where, e) => [`${where}: vs JSON.stringify + encodeURIComponent`, fmtNs(e.coola), fmtNs(e.reference), ratio(e.coola, e.reference)];
if (ch.encoding) rows.push(encRow("Chromium", ch.encoding));
if (!node.error) rows.push(encRow("Node", node.encoding));

if (ch.sendPath && !ch.sendPath.error) {
  sect("**send path**: a queued 300-event batch → its request body (the tracker's own send: JSON in wasm, the platform's percent-encoding), per event (goal ≤ 1.5×)");
  rows.push(["Chromium: vs JSON.stringify + encodeURIComponent of the same events", fmtNs(ch.sendPath.coola), fmtNs(ch.sendPath.reference), ratio(ch.sendPath.coola, ch.sendPath.reference)]);
  notes.push(
    `Send path: ${ch.sendPath.events} events, a ${(ch.sendPath.bodyBytes / 1024).toFixed(0)} KiB form body; timed as the 300th track() call of a fresh tracker (batchSize 300), which builds the body and hands it to the stubbed fetch, minus the median of the calls before it; median of ${2 * REPS + 1} trackers.`,
  );
} else if (ch.sendPath) notes.push(`Send path: ${ch.sendPath.error}`);

sect(
  `**scaling**: track() with events already queued (maxQueueSize 200,000), per call, wall / CPU (median of ${SCALING_REPS} × ${SCALING_CALLS.toLocaleString("en")} calls, which queue on top)`,
);
const sc = (q, p) => ch.scaling?.[`${q}-${p}`];
for (const q of [100, 10_000, 100_000]) {
  const off = sc(q, false);
  const base = sc(100, false);
  if (off && !off.error) {
    rows.push([
      `Chromium, ${q.toLocaleString("en")} queued, persist off${q === 100 ? "" : "; vs 100 queued"}`,
      pair(off.ns, off.cpu),
      q === 100 ? "—" : pair(base?.ns, base?.cpu),
      q === 100 ? "—" : `${ratio(off.ns, base?.ns)} / ${ratio(off.cpu, base?.cpu)}`,
    ]);
  } else if (off?.error) notes.push(`Scaling ${q} persist off: ${off.error}`);
}
for (const q of [100, 10_000, 100_000]) {
  const on = sc(q, true);
  const off = sc(q, false);
  if (on && !on.error) {
    rows.push([
      `Chromium, ${q.toLocaleString("en")} queued, persist on; vs persist off`,
      pair(on.ns, on.cpu),
      pair(off?.ns, off?.cpu),
      `${ratio(on.ns, off?.ns)} / ${ratio(on.cpu, off?.cpu)}`,
    ]);
    const stored = on.storedKeys;
    const total = on.pending;
    const quota = on.notices?.storage_error ? `the storage budget was reached (storage_error reported ${on.notices.storage_error}× by the last tracker filled)` : "every event stored";
    notes.push(
      `Scaling, ${q.toLocaleString("en")} queued with persistence: ${total.toLocaleString("en")} events queued, ${stored.toLocaleString("en")} localStorage keys ` +
        `(${(on.storedChars / 1e6).toFixed(2)} M chars) at the end; ${quota}; filling took ${(on.fillMs / 1000).toFixed(1)} s.`,
    );
  } else if (on?.error) notes.push(`Scaling ${q} persist on: ${on.error}`);
}
if (!node.error) {
  for (const q of [100, 10_000, 100_000]) {
    const x = node.scaling[q];
    const b = node.scaling[100];
    rows.push([
      `Node, ${q.toLocaleString("en")} queued${q === 100 ? "" : "; vs 100 queued"}`,
      pair(x.ns, x.cpu),
      q === 100 ? "—" : pair(b.ns, b.cpu),
      q === 100 ? "—" : `${ratio(x.ns, b.ns)} / ${ratio(x.cpu, b.cpu)}`,
    ]);
  }
}

sect("**memory**: wasm linear memory growth per queued event (100,000 events) vs the JS heap per event the reference queues");
const memRow = (where, m) => [
  `${where} (wasm memory ${fmtKB(m.before)} → ${(m.after / 1048576).toFixed(1)} MiB)`,
  `${Math.round(m.perEvent)} B`,
  `${Math.round(m.referenceHeapPerEvent)} B`,
  ratio(m.perEvent, m.referenceHeapPerEvent),
];
if (ch.memory) rows.push(memRow("Chromium", ch.memory));
if (!node.error) rows.push(memRow("Node", node.memory));

sect(`**start-up** (median of ${REPS}, each in a fresh renderer / process; bundle and .wasm already fetched)`);
const su = (key) => {
  const s = ch.track[key];
  const xs = s && s.reps.map((x) => x.startup);
  return xs && xs.length ? { total: med(xs, "total"), init: med(xs, "init"), evaluate: med(xs, "evaluate") } : null;
};
const cs = su("coola");
if (cs) rows.push(["Chromium: init(wasm bytes) + new CoolaTracker()", fmtMs(cs.init), "—", "—"]);
if (!node.error) rows.push(["Node: require() (reads, compiles, instantiates the wasm) + new CoolaTracker()", fmtMs(node.startup.total), "—", "—"]);
for (const b of timedPeers) {
  const p = su(b.id);
  rows.push([`Chromium: evaluate the bundle + ready tracker; vs ${b.label}`, cs ? fmtMs(cs.total) : "n/a", p ? fmtMs(p.total) : "n/a", cs && p ? ratio(cs.total, p.total) : "n/a"]);
}

// ---- notes ----------------------------------------------------------------------
const m = ch.memory;
notes.push(
  `track(): the same event each time, 10 properties (5 strings, 3 numbers, 2 booleans), a fresh object per call; each call is followed by a microtask checkpoint (\`await null\`), ` +
    `as when every event comes from a task of its own, so work a tracker defers to a microtask (coola-tracker's localStorage write) is in the wall figure. ` +
    `Chromium: each rep in a fresh browser context with a fresh tracker, warmed first (coola-tracker and the reference: ${WARM_OURS.throwaway.toLocaleString("en")} calls on a throwaway tracker, then ${WARM_OURS.inPlace} on the timed one; peers: up to ${WARM_PEER.inPlace.toLocaleString("en")} calls or ${WARM_PEER.inPlaceMs} ms on the timed one), fetch / sendBeacon / XMLHttpRequest stubbed (requests never settle, so no tracker gets an acknowledgement and queues only grow); ` +
    `The tight-loop rows make the same 2,000 calls in one task with no await between them, timed to the end of that task. coola-tracker with flushIntervalMs 0 and batchSize 300 (its first batch goes out during the warm-up and stays in flight, so the timed calls build no request body: that cost is the encoding figure, paid once per event sent), the peers with their defaults. A rep stops after ${BUDGET_MS / 1000} s: a peer shown with fewer calls per rep was slower than that. ` +
    `Main-thread CPU is the renderer's ThreadTime (CDP Performance.getMetrics) from the first call until the page is idle again (at most ${SETTLE_MS / 1000} s later), so work deferred to timers counts.`,
);
notes.push(
  "Reference: validates flat values (typeof, finiteness, reserved names), fills event_timestamp_epoch, event_id (crypto.randomUUID()) and user_id, pushes to an array (tests/bench/workload.mjs). " +
    "coola-tracker does more per event: page and session properties (page_url, page_title, session_dua, referrer, UTM...), exact JSON encoding and its encoded size, and (persist on) one localStorage key per event.",
);
const stored = ch.scaling?.["100-true"];
if (m && stored?.storedKeys) {
  notes.push(
    `Memory: the queue holds each event as its JSON; in the page an event is about ${Math.round(stored.storedChars / stored.storedKeys)} characters of JSON ` +
      `(its localStorage key included), since coola-tracker adds page and session properties that the reference does not, so ${Math.round(m.perEvent)} B of wasm memory per event ` +
      `is mostly the event itself (plus the queue's slot and the growth slack of its buffers).`,
  );
}
if (m) notes.push(`Memory: coola-tracker's JS heap grew by ${Math.round(m.jsHeapPerEvent)} B per queued event in Chromium (the queue lives in wasm memory, which never shrinks); ${m.pending.toLocaleString("en")} events queued.`);
if (ch.encoding) notes.push(`Encoding: 300 events make a ${(ch.encoding.bodyBytes / 1024).toFixed(0)} KiB raw body (${(ch.encoding.referenceBytes / 1024).toFixed(0)} KiB for JSON.stringify + encodeURIComponent, which keeps booleans as JSON booleans).`);
if (node.error) notes.push(`Node cases failed: ${node.error}`);
const blocked = Object.entries(ch.blocked || {});
notes.push(
  blocked.length
    ? `Requests that got past the page's stubs and were aborted by the harness: ${blocked.map(([h, n]) => `${h} (${n})`).join(", ")}.`
    : "No request left the page: none got past the stubs (the harness aborts and counts any that would).",
);

const cpu = cpus()[0]?.model || "?";
const header =
  `coola-tracker ${coolaBundle.version} benchmark, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ` +
  `${cpus().length} × ${cpu.trim()}, load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} at the end; ` +
  `Chromium ${ch.version}, Node ${node.node || process.version}; run ${((Date.now() - t0) / 1000).toFixed(0)} s${QUICK ? " (--quick)" : ""}.`;
const md =
  `${header}\n\n` +
  table(["figure", "coola-tracker", "reference / peer", "ratio (coola / other)"], rows) +
  "\n\n" +
  breakdown(bundles) +
  "\n\n" +
  (await budgetTables(coolaBundle.js, process.env.COOLA_NAMED_WASM)) +
  "\n\n" +
  notes.map((n) => `- ${n}`).join("\n") +
  "\n";
console.log(md);
writeFileSync(join(benchDir, "results.md"), md);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "results.json"), JSON.stringify({ node, chromium: ch }, null, 1));
log("written to tests/bench/results.md (every rep in tests/bench/.out/results.json)");
