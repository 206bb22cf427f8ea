// The page side of tests/soak/soak.mjs. Query parameters:
//   endpoint  the tracker's endpoint (default: this origin's /v3/{appKey}/track)
//   rate      events a second tracked by the loop (default 0: no loop; the test calls soak.track)
//   setup     "garbage": before the tracker exists, put garbage under its storage keys and fill
//             localStorage to its quota (first load of the tab only)
//   fill      with setup=garbage: "big" (1 MiB strings until setItem throws) or "exact"
//             (then ever smaller strings, down to one character), default "exact"
//   opts      JSON merged into the tracker options
// What each page of the tab did (event ids tracked, errors reported, requests made) is saved in
// sessionStorage on pagehide, after the tracker's own pagehide handler, so the test can read
// the whole tab's history from the last page (soak.history()).
import init, { CoolaTracker } from "/pkg/web/coola_tracker.js";

const q = new URLSearchParams(location.search);
const num = (k, d) => (q.has(k) ? Number(q.get(k)) : d);
const PAGE_KEY = "soak:pages";

const soak = {
  ready: false,
  page: Number(sessionStorage.getItem("soak:page-no") || 0) + 1,
  tracked: [],
  errors: [],
  requests: 0,
  trackErrors: 0,
  setup: null,
  timer: null,
  tracker: null,
};
sessionStorage.setItem("soak:page-no", String(soak.page));
window.soak = soak;

// Count every request the tracker makes (including keepalive ones on unload and refused ones).
const realFetch = window.fetch.bind(window);
window.fetch = (input, init) => {
  const url = typeof input === "string" ? input : input.url;
  if (/\/track(\?|$)/.test(url)) soak.requests++;
  return realFetch(input, init);
};

function setupGarbage() {
  const fill = q.get("fill") || "exact";
  const info = { fill, chunks: 0, chars: 0, threw: null };
  localStorage.clear();
  localStorage.setItem("coola:q:deadtab:1", "{not json");
  localStorage.setItem(
    "coola:q:deadtab:2",
    JSON.stringify({
      event_name: "garbage_nested",
      user_id: "garbage-user",
      event_timestamp_epoch: Date.now(),
      event_id: "garbage-nested-id",
      cart: { sku: "x", qty: 1 },
    }),
  );
  localStorage.setItem("coola:user_id", "bad\u0000user\u0007id\nwith\u001bcontrols");
  let size = 1 << 20;
  const minSize = fill === "big" ? 1 << 20 : 1;
  const big = "x".repeat(size);
  for (;;) {
    try {
      localStorage.setItem(`soak:fill:${info.chunks}`, big.slice(0, size));
      info.chunks++;
      info.chars += size;
    } catch (e) {
      info.threw = info.threw || String(e && e.name);
      if (size <= minSize) break;
      size = Math.floor(size / 2);
    }
  }
  // Whether there is any room left at all.
  try {
    localStorage.setItem("soak:probe", "1");
    localStorage.removeItem("soak:probe");
    info.roomLeft = true;
  } catch (_) {
    info.roomLeft = false;
  }
  return info;
}

function history() {
  const pages = JSON.parse(sessionStorage.getItem(PAGE_KEY) || "[]");
  return [...pages, { page: soak.page, tracked: soak.tracked, errors: soak.errors, requests: soak.requests }];
}

function storedKeys(prefix = "coola:q:") {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && k.startsWith(prefix)) out.push(k);
  }
  return out;
}

function track(n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    try {
      const id = soak.tracker.track("soak_event", { page_no: soak.page, i: soak.tracked.length, ok: true });
      soak.tracked.push(id);
      ids.push(id);
    } catch (e) {
      soak.trackErrors++;
      soak.errors.push({ code: e.code, message: e.message, thrown: true });
    }
  }
  return ids;
}

function start(rate) {
  stop();
  if (!(rate > 0)) return;
  const tick = 10;
  let due = 0;
  const t0 = performance.now();
  soak.timer = setInterval(() => {
    const want = Math.floor(((performance.now() - t0) / 1000) * rate);
    if (want > due) {
      track(want - due);
      due = want;
    }
  }, tick);
}

function stop() {
  if (soak.timer) clearInterval(soak.timer);
  soak.timer = null;
}

// Flushes until nothing is pending (or the deadline passes); returns the pending count.
async function drain(maxMs = 60000) {
  stop();
  const end = Date.now() + maxMs;
  let report = null;
  while (Date.now() < end) {
    report = await soak.tracker.flush();
    if (soak.tracker.pending === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pending: soak.tracker.pending, report };
}

Object.assign(soak, { track, start, stop, drain, history, storedKeys });

try {
  if (q.get("setup") === "garbage" && !sessionStorage.getItem("soak:setup-done")) {
    soak.setup = setupGarbage();
    sessionStorage.setItem("soak:setup-done", "1");
  }
  await init();
  const options = {
    appKey: "soak",
    endpoint: q.get("endpoint") || `${location.origin}/v3/{appKey}/track`,
    retryBaseMs: 50,
    retryMaxMs: 500,
    maxRetries: 50,
    batchSize: 50,
    flushIntervalMs: 100,
    onError: (e) => soak.errors.push({ code: e.code, count: e.count ?? null, status: e.status ?? null, message: e.message }),
    ...JSON.parse(q.get("opts") || "{}"),
  };
  soak.tracker = new CoolaTracker(options);
  soak.claimed = soak.tracker.pending;
  // Registered after the tracker's own pagehide listener, so its keepalive requests are counted.
  addEventListener("pagehide", () => {
    stop();
    const pages = JSON.parse(sessionStorage.getItem(PAGE_KEY) || "[]");
    pages.push({ page: soak.page, tracked: soak.tracked, errors: soak.errors, requests: soak.requests });
    sessionStorage.setItem(PAGE_KEY, JSON.stringify(pages));
  });
  start(num("rate", 0));
  soak.ready = true;
} catch (e) {
  soak.failed = String((e && e.stack) || e);
  throw e;
}
