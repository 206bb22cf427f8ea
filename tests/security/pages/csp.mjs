// Under `Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'`:
// loads the package's web build, then uses every part of the public API
// (the tracker, its timer and page listeners, the pure functions) and sets
// `window.result`.
const q = new URLSearchParams(location.search);
const app = q.get("app") || "csp-app";

async function main() {
  const lib = await import("/pkg/web/coola_tracker.js");
  await lib.default();
  const { CoolaTracker, parseTimestamp, validateEvent, encodeBatch } = lib;
  const errors = [];
  const t = new CoolaTracker({
    appKey: app,
    endpoint: `${location.origin}/v3/{appKey}/track`,
    flushIntervalMs: 100,
    onError: (e) => errors.push(`${e.code}: ${e.message}`),
  });
  const ids = [
    t.track("csp_one", { i: 1 }),
    t.track("csp_two", { i: 2, text: "a+b c&d=é \"q\" <script>" }),
  ];
  let thrown = null;
  try {
    t.track("csp_bad", { nested: { a: 1 } });
  } catch (e) {
    thrown = e.code;
  }
  const first = await t.flush();
  // The timer sends this one.
  t.track("csp_timer", { i: 3 });
  const until = Date.now() + 5000;
  while (t.pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const pure = {
    ts: parseTimestamp("Mon, 05 Jan 2015 10:00:00 GMT"),
    ev: validateEvent({ event_name: "e", user_id: "u", event_timestamp_epoch: 1420452000000, b: true }),
    body: encodeBatch([{ event_name: "e", user_id: "u", event_timestamp_epoch: 1420452000000 }]).slice(0, 5),
  };
  document.dispatchEvent(new Event("visibilitychange"));
  const last = await t.shutdown();
  // Violations are reported by a queued event: let them arrive, then take
  // what the library's work caused.
  await new Promise((r) => setTimeout(r, 100));
  const violations = (window.__violations || []).slice();
  // Control: the policy is in force here (a page script, unlike DevTools'
  // evaluate, is subject to it), and its violations are seen.
  let control;
  try {
    new Function("return 1")();
    control = "allowed";
  } catch (e) {
    control = e.name;
  }
  await new Promise((r) => setTimeout(r, 100));
  const controlViolations = (window.__violations || []).length - violations.length;
  return { ok: true, ids, first, last, pendingAfter: t.pending, thrown, errors, pure, violations, control, controlViolations };
}

main().then(
  (r) => (window.result = r),
  (e) => (window.result = { ok: false, error: `${e && e.name}: ${e && e.message}` }),
);
