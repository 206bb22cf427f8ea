// The page side of the bench, driven by lib/browser.mjs through
// window.bench. The network is stubbed before any tracker loads: requests
// never settle, so a tracker sees its first batch in flight forever and no
// request leaves the page.
import { burst, encoding, EVENT, median, nextTask, now, oneByOne, props, ReferenceTracker } from "./workload.mjs";

const realFetch = window.fetch.bind(window);
window.fetch = () => new Promise(() => {});
Object.defineProperty(Navigator.prototype, "sendBeacon", { value: () => true, configurable: true });
XMLHttpRequest.prototype.open = function () {};
XMLHttpRequest.prototype.setRequestHeader = function () {};
XMLHttpRequest.prototype.send = function () {};

const errors = [];
addEventListener("error", (e) => errors.push(String(e.message)));
addEventListener("unhandledrejection", (e) => errors.push(String((e.reason && e.reason.message) || e.reason)));

let wasmBytes;
const wasm = async () => (wasmBytes ||= await (await realFetch("/.out/pkg/web/coola_tracker_bg.wasm")).arrayBuffer());

const reference = {
  async make() {
    const t = new ReferenceTracker();
    return { track: (n, p) => t.track(n, p), queue: t.queue };
  },
};

const mods = new Map();
async function load(id) {
  if (id === "reference") return reference;
  if (!mods.has(id)) mods.set(id, await import(`/.out/${id}.js`));
  return mods.get(id);
}

/** Reported through onError (coola-tracker), by code. */
const notices = {};
const onError = (e) => {
  notices[e.code] = (notices[e.code] || 0) + 1;
};

let current = null;
async function fresh(id, options = {}) {
  if (current) current.close?.();
  current = null;
  localStorage.clear();
  await nextTask();
  const mod = await load(id);
  const opts = id === "coola-tracker" ? { onError, ...options } : options;
  current = await mod.make(opts, id === "coola-tracker" ? await wasm() : undefined);
  await nextTask();
  return current;
}

window.bench = {
  errors,
  realFetch,
  notices,
  /**
   * A fresh tracker of `id` in this fresh page, timed as start-up: the bundle
   * and the .wasm are fetched first (not timed), then the bundle is evaluated
   * (import of a blob: URL) and `make` runs (coola-tracker: init() with the
   * wasm bytes + new CoolaTracker()). Then the warm-up, not timed, so that the
   * code is warm: `warm.throwaway` calls (at most `warm.ms`) on a second
   * tracker made for it and dropped (its first 2,000 calls are timed as the
   * cold cost), and `warm.inPlace` calls (at most `warm.inPlaceMs`) on the
   * tracker itself. Returns { total, evaluate, init } ms and `cold` ns/call.
   */
  async prepare(id, options = {}, warm = {}) {
    localStorage.clear();
    let mod = reference;
    let url;
    const bytes = id === "coola-tracker" ? await wasm() : undefined;
    if (id !== "reference") {
      const src = await (await realFetch(`/.out/${id}.js`)).text();
      url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
    }
    await nextTask();
    const t0 = now();
    if (url) mod = await import(url);
    const t1 = now();
    const opts = id === "coola-tracker" ? { onError, ...options } : options;
    const timeout = new Promise((_, no) => setTimeout(() => no(new Error("make() did not resolve in 10 s")), 10_000));
    current = await Promise.race([mod.make(opts, bytes), timeout]);
    const t2 = now();
    await nextTask();
    let cold;
    if (warm.throwaway) {
      const w = await mod.make(id === "coola-tracker" ? { persist: false, maxQueueSize: 200_000 } : {}, bytes);
      cold = (await oneByOne(w.track, Math.min(2000, warm.throwaway), Infinity, 2_000_000)).ns;
      await oneByOne(w.track, warm.throwaway - 2000, warm.ms ?? Infinity, 3_000_000);
      w.close?.();
      await nextTask();
    }
    await oneByOne(current.track, warm.inPlace || 0, warm.inPlaceMs ?? Infinity, 1_000_000);
    await nextTask();
    return { total: t2 - t0, evaluate: t1 - t0, init: t2 - t1, cold };
  },
  /** Times the prepared tracker: up to `calls` calls, one per microtask checkpoint. */
  async run(calls, budgetMs) {
    return oneByOne(current.track, calls, budgetMs);
  },
  /**
   * Times the prepared tracker in a tight loop: up to `calls` calls in one
   * task, no await between them, then to the end of that task (what the
   * tracker deferred to a microtask: its storage writes). { ns, sync, calls }.
   */
  async tight(calls, budgetMs) {
    const r = await burst(current.track, calls, budgetMs);
    return { ns: r.task, sync: r.sync, calls: r.calls };
  },

  /**
   * The send path: a fresh tracker (persist off, batchSize 300, no timer)
   * gets 300 events; the 300th call fills the batch, and the tracker builds
   * the request body and hands it to fetch (stubbed) inside that call. Its
   * time minus the median of the calls before it is the cost of turning the
   * queued batch into the body (JSON of the batch, the crossing into JS,
   * the platform's percent-encoding). The reference: JSON.stringify +
   * encodeURIComponent of the same events (read back from the body sent).
   * ns per event, medians over `reps` fresh trackers.
   */
  async sendPath({ reps = 15, warm = 3 } = {}) {
    const mod = await load("coola-tracker");
    const bytes = await wasm();
    const stub = window.fetch;
    let body = null;
    window.fetch = (url, init) => {
      body = init.body;
      return new Promise(() => {});
    };
    const ours = [];
    const ref = [];
    let evs = null;
    let sink = 0;
    try {
      for (let r = 0; r < reps + warm; r++) {
        const t = await mod.make({ persist: false }, bytes);
        const each = [];
        for (let i = 0; i < 299; i++) {
          const a = now();
          t.track(EVENT, props(i));
          if (i >= 200) each.push(now() - a);
        }
        body = null;
        const t0 = now();
        t.track(EVENT, props(299));
        const t1 = now();
        t.close();
        if (body === null) throw new Error("the 300th event did not send the batch");
        evs ||= JSON.parse(new URLSearchParams(body).get("data")).events;
        const t2 = now();
        sink += encodeURIComponent(JSON.stringify({ events: evs })).length;
        const t3 = now();
        if (r >= warm) {
          ours.push(((t1 - t0 - median(each)) * 1e6) / 300);
          ref.push(((t3 - t2) * 1e6) / 300);
        }
        await nextTask();
      }
    } finally {
      window.fetch = stub;
    }
    return { coola: median(ours), reference: median(ref), bodyBytes: body.length, referenceBytes: sink / (reps + warm), events: evs.length };
  },

  /** encodeBatch(300 events) against JSON.stringify + encodeURIComponent. */
  async encoding(opts) {
    const mod = await load("coola-tracker");
    await mod.make({ persist: false }, await wasm());
    return encoding(mod.encodeBatch, opts);
  },

  /**
   * track() with events already queued, in steps that lib/browser.mjs times
   * (wall here, main-thread CPU around each `scalingRun`). `scalingStart`
   * warms the code on a throwaway tracker: V8 moves the hot wasm functions to
   * its optimising tier only after some 20,000 calls here, and before that a
   * call costs about twice as much. `scalingFill` makes a fresh tracker and
   * queues `queued` events in tasks of 1,000 (so that persistence writes as
   * it would), then a flush puts its first batch in flight, as in the bigger
   * cases: the timed calls then never build a request body (that is encoding).
   */
  async scalingStart() {
    for (const k in notices) delete notices[k];
    const w = await fresh("coola-tracker", { persist: false, maxQueueSize: 200_000 });
    await oneByOne(w.track, 30_000, 4000);
    return true;
  },
  async scalingFill({ queued, persist }) {
    // What scalingEnd reports is this tracker's (each rep fills a fresh one).
    for (const k in notices) delete notices[k];
    const t = await fresh("coola-tracker", { persist, maxQueueSize: 200_000 });
    const f0 = now();
    for (let i = 0; i < queued; i += 1000) {
      const n = Math.min(1000, queued - i);
      for (let j = 0; j < n; j++) t.track(EVENT, props(i + j));
      await nextTask();
    }
    const fillMs = now() - f0;
    t.tracker.flush();
    await nextTask();
    return fillMs;
  },
  async scalingRun(calls) {
    return (await oneByOne(current.track, calls)).ns;
  },
  async scalingEnd() {
    let storedKeys = 0;
    let storedChars = 0;
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      storedKeys++;
      storedChars += k.length + (localStorage.getItem(k) || "").length;
    }
    return { pending: current.tracker.pending, storedKeys, storedChars, notices: { ...notices } };
  },

  /**
   * Growth of the wasm linear memory per queued event, over `n` events; for
   * comparison, the JS heap per event that the reference tracker queues.
   * (Precise heap figures need Chromium's --enable-precise-memory-info and
   * --js-flags=--expose-gc.)
   */
  async memory(n) {
    const heap = async () => {
      for (let i = 0; i < 2; i++) {
        window.gc?.();
        await nextTask();
      }
      return performance.memory ? performance.memory.usedJSHeapSize : NaN;
    };
    const fill = async (t) => {
      for (let i = 0; i < n; i += 1000) {
        for (let j = 0; j < 1000 && i + j < n; j++) t.track(EVENT, props(i + j));
        await nextTask();
      }
    };
    const t = await fresh("coola-tracker", { persist: false, maxQueueSize: 200_000 });
    const before = t.memory.buffer.byteLength;
    const h0 = await heap();
    await fill(t);
    const after = t.memory.buffer.byteLength;
    const h1 = await heap();
    const pending = t.tracker.pending;
    const r = await fresh("reference");
    const h2 = await heap();
    await fill(r);
    const h3 = await heap();
    return {
      before, after, n, pending, perEvent: (after - before) / n,
      jsHeapPerEvent: (h1 - h0) / n, referenceHeapPerEvent: (h3 - h2) / n, referenceQueued: r.queue.length,
    };
  },
};

window.benchReady = true;
