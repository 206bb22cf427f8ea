// The workload, shared by the page and by Node: the event, the minimal
// pure-JS reference tracker, and the timing loops. No imports, no I/O.

export const EVENT = "checkout_step";

/** An event of 10 properties: 5 strings, 3 numbers, 2 booleans; a fresh object per call. */
export const props = (i) => ({
  page_section: "checkout",
  product_name: "Blue running shoes",
  product_sku: "SKU-" + (i & 1023),
  currency: "EUR",
  campaign: "summer-sale-2025",
  price: 89.9,
  quantity: (i & 3) + 1,
  step: i % 5,
  logged_in: true,
  first_purchase: (i & 1) === 0,
});

/** A batch of complete events (what `encodeBatch` takes). */
export function events(n, t0 = 1_735_689_600_000) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ event_name: EVENT, user_id: "user-4711", event_timestamp_epoch: t0 + i, ...props(i) });
  }
  return out;
}

const RESERVED = new Set([
  "internal_user_id", "internal_session_id", "user_alias", "session_clean_path", "session_duration",
  "session_end_time_ts", "session_events_counter", "session_full_category_path",
  "session_full_clean_category_path", "session_full_clean_path", "session_full_path",
  "session_funnel_path", "session_serial_event_counter", "uid", "sid",
]);

const bad = (code, field) => Object.assign(new TypeError(code + ": " + field), { code, field });

/**
 * The least a tracker must do per event: validate flat values (typeof,
 * finiteness, reserved names), fill timestamp, event id and user id, and
 * push to an array.
 */
export class ReferenceTracker {
  constructor({ userId } = {}) {
    this.userId = userId || crypto.randomUUID();
    this.queue = [];
  }
  track(name, properties) {
    if (typeof name !== "string" || name === "") throw bad("missing_field", "event_name");
    const ev = { event_name: name };
    if (properties != null) {
      for (const k of Object.keys(properties)) {
        if (k === "" || RESERVED.has(k)) throw bad(k ? "reserved_property" : "invalid_property_name", k);
        const v = properties[k];
        switch (typeof v) {
          case "string":
            ev[k] = v;
            break;
          case "number":
            if (!Number.isFinite(v)) throw bad("invalid_value", k);
            ev[k] = v;
            break;
          case "boolean":
            ev[k] = v ? "true" : "false";
            break;
          case "undefined":
            break;
          default:
            if (v === null) break;
            throw bad(typeof v === "object" ? "nested_property" : "invalid_value", k);
        }
      }
    }
    if (ev.user_id === undefined) ev.user_id = this.userId;
    if (ev.event_timestamp_epoch === undefined) ev.event_timestamp_epoch = Date.now();
    ev.event_id = crypto.randomUUID();
    this.queue.push(ev);
    return ev.event_id;
  }
}

export const now = () => performance.now();

/** Ends the current task: microtasks run, then one macrotask turn. */
export const nextTask = () =>
  new Promise((resolve) => {
    if (typeof MessageChannel === "function") {
      const c = new MessageChannel();
      c.port1.onmessage = () => {
        c.port1.close();
        resolve();
      };
      c.port2.postMessage(0);
    } else setTimeout(resolve, 0);
  });

/**
 * Times up to `calls` calls of `track` in one task (a burst), then to the end
 * of that task (what the tracker deferred to a microtask or the next turn).
 * A tracker slower than `budgetMs` is stopped early: `calls` tells how many
 * were made. Returns ns per call: { sync, task, calls }.
 */
export async function burst(track, calls, budgetMs = Infinity) {
  let i = 0;
  const t0 = now();
  while (i < calls) {
    const end = Math.min(calls, i + 100);
    for (; i < end; i++) track(EVENT, props(i));
    if (now() - t0 > budgetMs) break;
  }
  const t1 = now();
  await nextTask();
  const t2 = now();
  return { sync: ((t1 - t0) * 1e6) / i, task: ((t2 - t0) * 1e6) / i, calls: i };
}

/**
 * Times up to `calls` calls of `track`, each followed by a microtask
 * checkpoint, as when each event comes from a task of its own (a click):
 * what a tracker defers to a microtask (a write to storage) is counted, once
 * per event. Stops early past `budgetMs`. Returns { ns per call, calls }.
 */
export async function oneByOne(track, calls, budgetMs = Infinity, from = 0) {
  let i = 0;
  const t0 = now();
  while (i < calls) {
    const end = Math.min(calls, i + 50);
    for (; i < end; i++) {
      track(EVENT, props(from + i));
      await null;
    }
    if (now() - t0 > budgetMs) break;
  }
  const t1 = now();
  return { ns: ((t1 - t0) * 1e6) / i, calls: i };
}

/** Median of numbers. */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * encodeBatch of `n` events against JSON.stringify + encodeURIComponent of the
 * same events: ns per event for each, median of `reps` runs of `loops` bodies.
 */
export function encoding(encodeBatch, { n = 300, reps = 7, loops = 40 } = {}) {
  const evs = events(n);
  const ours = encodeBatch(evs, { bodyFormat: "raw" });
  const ref = encodeURIComponent(JSON.stringify({ events: evs }));
  const a = [];
  const b = [];
  let sink = 0;
  for (let r = 0; r < reps; r++) {
    let t0 = now();
    for (let i = 0; i < loops; i++) sink += encodeBatch(evs, { bodyFormat: "raw" }).length;
    a.push(((now() - t0) * 1e6) / (loops * n));
    t0 = now();
    for (let i = 0; i < loops; i++) sink += encodeURIComponent(JSON.stringify({ events: evs })).length;
    b.push(((now() - t0) * 1e6) / (loops * n));
  }
  return { coola: median(a), reference: median(b), bodyBytes: ours.length, referenceBytes: ref.length, sink };
}
