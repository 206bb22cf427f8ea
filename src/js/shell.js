// The JavaScript half of the shell: small functions the Rust shell imports.
// They only convert values and carry out I/O; every decision is in Rust.
// No eval, no new Function: this module works under a strict CSP.

const T = (t, k, v) => t + k.length + ":" + k + v.length + ":" + v;

// ---- The CoolaTracker class (its methods are carried out in Rust) ----

// The module's exports (from `start`, at instantiation, and `bind`: a test
// harness may not run the start function), and the current method call's
// arguments and result (see src/js/tracker/ops.rs).
let X, A, B, R;
export function start(exports) {
  X = exports;
}
export const arg = (i) => (i ? B : A);
export function give(v) {
  R = v;
}

// Calls method n (the numbers of src/js/tracker/ops.rs) of the tracker
// with handle h (0: a function, or the constructor): what Rust gave back,
// else what coola_op returns (the constructor's handle; pending; closed and
// optedOut as 1 or 0); an Error given back is thrown.
function call(h, n, a, b) {
  A = a;
  B = b;
  R = undefined;
  const v = X.coola_op(h, n);
  const r = R;
  A = B = R = undefined;
  if (r instanceof Error) throw r;
  return r === undefined ? v : r;
}

function op(t, n, a, b) {
  if (!t.h) throw error(0, "tracker_closed", "this CoolaTracker was freed");
  return call(t.h, n, a, b);
}

// The functions (their types are in src/js/mod.rs). parseTimestamp hands
// Rust the value flattened; validateEvent parses the JSON Rust gives back
// (JSON the core wrote: parsing it cannot throw).
export function parseTimestamp(value, options) {
  return call(0, 16, flattenValue(value), options);
}
export function validateEvent(event, options) {
  return JSON.parse(call(0, 17, event, options));
}
export function encodeBatch(events, options) {
  return call(0, 18, events, options);
}
export function visitorProperties(request) {
  const [ip, ua] = visitor(request);
  return call(0, 19, ip, ua);
}

// Queues analytics events and sends them to CoolaData in batches (the
// types are in src/js/mod.rs). A tracker lives until shutdown() or free(),
// like a timer or a listener, not until the page drops its last reference
// to it: no finalizer frees it (one would stop a tracker that was created
// and left to run, with its timer, its page-hide send and its heartbeat).
export class CoolaTracker {
  constructor(options) {
    this.h = call(0, 11, options);
    this.p = call(this.h, 0);
  }
  // The event is read here, before the call (see flattenEvent), with the
  // page's URL and title when the tracker adds them (`p`: made in a page,
  // with autoPageProperties; method 0 asks the tracker once): its values
  // never cross into the module.
  track(eventName, properties) {
    return op(this, 1, this.h && flattenEvent(eventName, properties, this.p));
  }
  setUserId(userId) {
    op(this, 2, userId);
  }
  flush() {
    return op(this, 3);
  }
  shutdown() {
    return op(this, 4);
  }
  optOut() {
    op(this, 5);
  }
  optIn() {
    op(this, 6);
  }
  trackPageView(properties) {
    return op(this, 7, properties);
  }
  setProperties(properties) {
    op(this, 8, properties);
  }
  get userId() {
    return op(this, 9);
  }
  get sessionId() {
    return op(this, 10);
  }
  get pending() {
    return op(this, 12);
  }
  get closed() {
    return !!op(this, 13);
  }
  get optedOut() {
    return !!op(this, 14);
  }
  // Releases the tracker at once (timers, listeners); a second call does nothing.
  free() {
    const h = this.h;
    this.h = 0;
    if (h) X.coola_op(h, 15);
  }
}
if (Symbol.dispose) CoolaTracker.prototype[Symbol.dispose] = CoolaTracker.prototype.free;

// A CoolaTracker object for the handle of a tracker made in Rust.
export function wrap(h) {
  const t = Object.create(CoolaTracker.prototype);
  t.h = h;
  t.p = X.coola_op(h, 0);
  return t;
}

// A library error: a TypeError (kind 1), RangeError (kind 2) or Error with
// its code and, where they apply, field, status and count (-1 or left out:
// none).
export function error(kind, code, message, field, hasField, status, count) {
  const e = new [Error, TypeError, RangeError][kind](message);
  e.code = code;
  if (hasField) e.field = field;
  if (status >= 0) e.status = status;
  if (count >= 0) e.count = count;
  return e;
}

// flush() / shutdown(): a promise whose resolve waits on the tracker's
// callback, given the counts it began at (events acknowledged and failed,
// requests made); settled(cb, ...) resolves every waiting one, in order,
// with its report: the difference of the counts now to its own, and what is
// pending.
export function waiting(cb, s, f, r) {
  return new Promise((ok) => cb.w.push((sent, failed, pending, requests) => ok({ sent: sent - s, failed: failed - f, pending, requests: requests - r })));
}
export function settled(cb, sent, failed, pending, requests) {
  while (cb.w.length) cb.w.shift()(sent, failed, pending, requests);
}

// visitorProperties: CF-Connecting-IP and User-Agent of an incoming Request
// ("" for a header absent or unreadable), [] when there are no Headers to
// read (no headers, or a plain object: Rust throws rather than give "0").
// What the object holds is decided in Rust (src/core/visitor.rs).
export function visitor(r) {
  let h;
  try {
    h = r.headers;
    if (typeof h.get != "function") return [];
  } catch (_) {
    return [];
  }
  const get = (name) => {
    try {
      const v = h.get(name);
      return typeof v === "string" ? v : "";
    } catch (_) {
      return "";
    }
  };
  return [get("CF-Connecting-IP"), get("User-Agent")];
}

// visitorProperties' object as Rust decided it: session_dua only when given.
export function visitorObject(ip, ua) {
  const o = { session_ip: ip };
  if (ua !== undefined) o.session_dua = ua;
  return o;
}

// What a value is, for the Rust shell (KIND_* in src/js/mod.rs): 0
// undefined, 1 null, 2 an object (not a function), 3 a function, 4 false,
// 5 true, 6 a number, 7 a string, 8 anything else.
export function kind(v) {
  const t = typeof v;
  if (v == null) return v === null ? 1 : 0;
  return t === "object" ? 2 : t === "function" ? 3 : t === "boolean" ? 4 + v : t === "number" ? 6 : t === "string" ? 7 : 8;
}

// A number as it is, NaN for anything else.
export const num = (v) => (typeof v === "number" ? v : NaN);

// obj[k] of an object; undefined for what is not one, null when reading
// throws (a bad value for every option read so: a nowMs getter that throws
// is invalid_option, not absent).
export function get(o, k) {
  try {
    return o !== null && typeof o === "object" ? o[k] : undefined;
  } catch (_) {
    return null;
  }
}

// onError (kept on the tracker's callback by `bind`) called with error e,
// `this` null; what it throws is ignored, and so is the call when there is no
// onError (calling undefined throws here). A request_failed of status 0 (no
// answer) carries as `cause` what the last failed fetch rejected with (`x`,
// see `send`).
export function report(cb, e) {
  if (e.status === 0) e.cause = cb.x;
  try {
    cb.e.call(null, e);
  } catch (_) {}
}

// What a caller's getter, Proxy or toString threw, as an entry tagged "!"
// (the Rust shell turns it into an error of its own) under key k: by
// default the property whose reading threw (`K`, set by `props`), "" for
// none; reading the thrown value's message may throw too.
let K = "";
function threw(e, k = K) {
  K = "";
  let m = "an exception was thrown";
  try {
    if (typeof e === "string") m = e;
    else if (e !== null && typeof e === "object" && typeof e.message === "string") m = e.message;
  } catch (_) {}
  return T("!", k, m);
}

// One property in the entries form read by src/core/entries.rs.
function one(k, v) {
  switch (typeof v) {
    case "string":
      return T("s", k, v);
    case "number":
      return T(isFinite(v) ? "n" : "N", k, "" + v);
    case "boolean":
      return T("b", k, "" + v);
    case "undefined":
      return T("u", k, "");
    case "object":
      if (v === null) return T("u", k, "");
      if (v instanceof Date) return T("d", k, "" + v.getTime());
      return T(Array.isArray(v) ? "a" : "o", k, "");
    case "function":
      return T("f", k, "");
    case "symbol":
      return T("y", k, "");
    default:
      return T("i", k, "");
  }
}

function props(s, p) {
  if (p === undefined || p === null) return s;
  if (typeof p !== "object" || Array.isArray(p)) {
    return s + T("X", "", Array.isArray(p) ? "an array" : typeof p);
  }
  const keys = Object.keys(p);
  // One try around the loop, not one per property (track()'s speed): what
  // reading a property throws goes on to the caller's catch with the
  // property's name in `K`, for `threw`.
  let i = 0;
  try {
    for (; i < keys.length; i++) s += one(keys[i], p[keys[i]]);
  } catch (e) {
    K = keys[i];
    throw e;
  }
  const syms = Object.getOwnPropertySymbols(p);
  if (syms.length) s += T("K", String(syms[0]), "");
  return s;
}

// The tracker's options bag as one string: every enumerable property, own
// or inherited; null as an object (a bad value), and a throwing Proxy as an
// empty bag. An option whose getter throws is the string's one entry: a "!"
// entry under its name (src/core/config.rs refuses the option).
export function options(o) {
  let s = "";
  try {
    for (const k in o) {
      let v;
      try {
        v = o[k];
      } catch (e) {
        return threw(e, k);
      }
      s += v === null ? T("o", k, "") : one(k, v);
    }
  } catch (_) {}
  return s;
}

// An object's own properties as one string.
export function flatten(p) {
  try {
    return props("", p);
  } catch (e) {
    return threw(e);
  }
}

// validate_event's result for Rust callers (tests): the JSON of the event
// as it will be sent.
export function parseJson(json) {
  return JSON.parse(json);
}

// One value (a timestamp given to parseTimestamp) as one entry (also for
// Rust callers of parse_timestamp).
export function flattenValue(v) {
  try {
    return one("value", v);
  } catch (e) {
    return threw(e);
  }
}

// A list of events as one string: one "p" entry per event, holding its
// properties' entries, or an "X" entry for what is not an object; null when
// `list` is not an array, its length when it is longer than `max`. Every
// read of the caller's data happens here; what it throws comes back as a
// "!" entry.
export function flattenList(list, max) {
  try {
    if (!Array.isArray(list)) return null;
    const n = list.length;
    if (n > max) return n;
    let s = "";
    for (let i = 0; i < n; i++) {
      const e = list[i];
      // props() says what a non-object or an array is; null and undefined (which it skips) are said here.
      s += T("p", "", e == null ? T("X", "", typeof e) : props("", e));
    }
    return s;
  } catch (e) {
    return threw(e);
  }
}

// A tracked event (track(), and page views): page URL and title (in a
// page), the referrer after an in-page navigation (`ref`, a page view's: ""
// or undefined for none: the document's own then applies), the name, the
// properties; what reading them throws, as a "!" entry. document.URL is
// location.href (the document's URL, serialized), read in a tenth of the
// time in Chromium: this runs on every track().
export function flattenEvent(name, p, page, ref) {
  try {
    let s = "";
    if (page) {
      s = T("p", "page_url", "" + document.URL) + T("p", "page_title", "" + document.title);
      if (ref) s += T("p", "referring_url", ref);
    }
    return props(s + one("event_name", name), p);
  } catch (e) {
    return threw(e);
  }
}

function query(name) {
  try {
    return new URLSearchParams(location.search).get(name) || "";
  } catch (_) {
    return "";
  }
}

// What the environment fills once per tracker, in the entries form, after
// "1" in a page (a document with a location), else "0".
export function environment() {
  try {
    return env();
  } catch (_) {
    return "0";
  }
}

// Whether this is a page: a document with a location.
const inPage = () => !!globalThis.document && typeof location === "object";

function env() {
  const nav = globalThis.navigator || {};
  let s = typeof nav.userAgent === "string" ? T("p", "session_dua", nav.userAgent) : "";
  const page = inPage();
  if (page) {
    const ref = "" + (document.referrer || "");
    let domain = "";
    try {
      domain = ref ? new URL(ref).host : "";
    } catch (_) {}
    const c = globalThis.screen;
    const scr = c ? c.width + "x" + c.height : "";
    s += T("p", "session_screen_size", scr) + T("p", "session_platform", "" + (nav.platform || ""));
    s += T("p", "referring_url", ref) + T("p", "referring_domain", domain);
    for (const u of ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"]) {
      s += T("p", u, query(u));
    }
    s += T("n", "event_timezone_offset", "" + -new Date().getTimezoneOffset() / 60);
  }
  return (page ? "1" : "0") + s;
}

// The string of the n bytes of UTF-8 at p in the module's memory: a short
// one (the event id track() returns) read as Latin-1 then, only when a byte
// is not ASCII, decoded as UTF-8, cheaper than a TextDecoder call; a long
// one (fromCharCode takes the bytes as arguments) by a TextDecoder that, as
// the glue's, keeps a leading U+FEFF. p arrives as a signed i32: `>>> 0`
// keeps an address past 2 GiB from turning negative (a throw here would be a
// throw inside an import, which kills the instance).
export function text(p, n) {
  const b = new Uint8Array(X.memory.buffer, p >>> 0, n);
  if (n > 256) return new TextDecoder("utf-8", { ignoreBOM: true }).decode(b);
  const s = String.fromCharCode.apply(null, b);
  return /[^\0-\x7f]/.test(s) ? decodeURIComponent(escape(s)) : s;
}

// 32 random bits (four calls seed the event ids and the tab id).
export function seed() {
  try {
    return crypto.getRandomValues(new Uint32Array(1))[0];
  } catch (_) {
    return (Math.random() * 4294967296) >>> 0;
  }
}

// The request body for the JSON the core wrote: "data=" for the form format,
// then the JSON percent-encoded by the platform's own encodeURIComponent (a
// form decoder reads it back; the core's size model counts these bytes).
export function encode(json, form) {
  return (form ? "data=" : "") + encodeURIComponent(json);
}

// The tracker's one callback: cb(what, id, status, text, flag) (only `what`
// for every kind but 0 and 3), `what` one
// of the kinds in src/js/tracker.rs (0 a request settled, 1 send what is due,
// 2 heartbeat, 3 page hidden / unloaded, 4 online or shown, 5 end of task,
// 6 page changed, 7 a draining tracker's wake-up, 8 Node's beforeExit). It calls the module's
// raw export coola_callback with the tracker's handle `h` (given by hook's
// slot -3, right after `bind`) and numbers, and leaves `text` (undefined for "") as the current call's
// argument 0 (see `arg`) for the tracker to read; once the tracker is gone it
// sets `h` to 0, and the callback does nothing more.
// It keeps what stays the same for the tracker's life: its onError (`e`) and
// beforeSend (`b`), see `report` and `beforeSend`; the request URL (`u`),
// body format (`f`) and timeout in ms (`t`), see `send`; the storage key of the saved choice (`k`),
// see `hook`; and the waiting flushes' resolves (`w`) and the removers of its
// timers and listeners by slot (`c`).
export function bind(exports, onError, beforeSend, url, form, key, ms) {
  X = exports;
  const cb = (what, id, status, text, flag) => {
    if (cb.h) {
      A = text || undefined;
      exports.coola_callback(cb.h, what, id, status, flag ? 1 : 0);
      A = undefined;
    }
  };
  return Object.assign(cb, { w: [], c: [], e: onError, b: beforeSend, u: url, f: form, k: key, t: ms });
}

// POST the body for `json` to the tracker's URL (cb.u) in its body format
// (cb.f), then call cb(0, id, status, Retry-After, body said "status":
// false), status 0 for a network error (what fetch rejected with kept as
// cb.x, for `report`). Never throws; `cb` is always called
// later, never from inside `send`.
// A request that has no answer after cb.t ms is aborted (AbortSignal.timeout,
// whose timer keeps no Node process alive): a network error, so a connection that never answers cannot hold up every
// later request. A redirect is not followed (fetch would send the POST again
// as a GET without the events, and take the GET's answer for the
// collector's): it is a network error too, with what to do as its cause.
// That is `redirect: "error"`, made from "manual" (workerd has no "error";
// a browser gives an opaque response of status 0, Node and workerd the 3xx).
export function send(cb, json, keepalive, id) {
  const init = {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    redirect: "manual",
  };
  if (keepalive) init.keepalive = true;
  const finish = (status, retryAfter, no) => {
    try {
      cb(0, id, status, retryAfter, no);
    } catch (_) {}
  };
  // A page's fetch wrapper may throw, return what is not a promise, or a
  // response that throws: the request then failed, it never throws here.
  new Promise((ok) => {
    init.body = encode(json, cb.f);
    // Where AbortSignal.timeout is missing (older browsers), none: their own timeout applies.
    init.signal = globalThis.AbortSignal?.timeout?.(cb.t);
    ok(fetch(cb.u, init));
  }).then(async (r) => {
    let no = false;
    try {
      const j = JSON.parse(await r.text());
      no = j?.status === false;
    } catch (_) {}
    const s = r.status;
    if (r.type === "opaqueredirect" || /^30[12378]$/.test(s)) {
      throw Error("the endpoint redirected" + (s ? " (HTTP " + s + ")" : "") + ": set endpoint to the URL it redirects to");
    }
    finish(s, r.headers.get("Retry-After") || "", no);
  }).catch((e) => {
    cb.x = e;
    finish(0, "", false);
  });
}

// The tracker's timers and listeners, kept on its callback `cb` (made by
// `bind`) by slot (SLOT_* in src/js/tracker.rs); registering in slot n
// first removes what n held: 0 a timer calling cb(what) every `ms`, 1 a
// timer calling it once after `ms`, 2 the page lifecycle (see `listen`), 3
// watchPage(cb.k, ms === 1, cb, what); `ms` below 0 only removes. Slot -1
// removes every one, -2 also stops the callback for good (h = 0); slot -3
// gives the callback its handle (h = ms) and nothing else.
export function hook(cb, n, ms, what) {
  if (n < -2) return void (cb.h = ms);
  const c = cb.c;
  for (const i in c) if (n < 0 || +i === n) c[i](), delete c[i];
  if (n < -1) cb.h = 0;
  if (n >= 0 && ms >= 0) c[n] = n > 2 ? watchPage(cb.k, ms === 1, cb, what) : n > 1 ? listen(cb) : timer(n, ms, cb, what);
}

// A timer that does not keep Node alive (but for kind 7, a draining
// tracker's wake-up: a shutdown, or the exit), calling cb(what) every `ms` (or once, when `once`);
// returns a function that cancels it.
function timer(once, ms, cb, what) {
  const h = (once ? setTimeout : setInterval)(() => cb(what), ms);
  what < 7 && h.unref?.();
  return () => (once ? clearTimeout : clearInterval)(h);
}

// Node's beforeExit, for every live tracker through one listener (one each
// would make Node warn of a leak past 10 trackers), added with the first
// and removed with the last.
const exits = new Set();
const exit = () => exits.forEach((f) => f());

// Page lifecycle: cb(3, .., false) when the page is hidden, cb(3, .., true)
// when it is unloaded (pagehide), cb(4) when the network comes back or the
// page is shown again, cb(8) on Node's beforeExit. Returns a remover.
function listen(cb) {
  const hide = (gone) => cb(3, 0, 0, "", gone);
  const online = () => cb(4);
  const offs = [];
  if (events()) {
    if (globalThis.document) {
      offs.push(
        on(document, "visibilitychange", () => document.visibilityState === "hidden" && hide(false)),
        on(globalThis, "pagehide", () => hide(true)),
        on(globalThis, "pageshow", online),
      );
    }
    offs.push(on(globalThis, "online", online));
  }
  const p = globalThis.process;
  if (typeof p?.on === "function") {
    const f = () => cb(8);
    exits.size || p.on("beforeExit", exit);
    exits.add(f);
    offs.push(() => exits.delete(f) && !exits.size && p.removeListener("beforeExit", exit));
  }
  return () => offs.forEach((f) => f());
}

// Whether the global scope takes event listeners (a page, a worker; not Node).
const events = () => typeof addEventListener === "function";

// Adds listener f for event e on target t; returns the function that removes it.
const on = (t, e, f) => (t.addEventListener(e, f), () => t.removeEventListener(e, f));

// Whether the browser says it is offline.
export function offline() {
  return globalThis.navigator?.onLine === false;
}

// Calls cb(what) once the current task is done (before the page can go away).
export function soon(cb, what) {
  queueMicrotask(() => {
    try {
      cb(what);
    } catch (_) {
      // The tracker was freed in between: nothing left to do.
    }
  });
}

// localStorage, never throwing. op (STORAGE_* in src/js/mod.rs): 0 the
// value under k (null when absent or unreadable), 1 write v under k (false
// when refused), 2 remove k, 3 every key that starts with k and its value,
// in the entries form: "p" (key, the properties of a value that is JSON of
// an object, flattened; JSON.parse builds plain data only: nothing stored
// is executed) or "s" (key, any other value as stored), 5 whether
// localStorage exists and can be read (it may still refuse writes: quota
// full), 6 hold back every later write and removal (each answers true), 7
// make the held ones, in order, a refused write skipping the writes after it
// (not the removals): -1 when every write was made, else 2 * (n + 1) + c,
// n the sequence number of the first event not written (the refused
// write's own, or the event's after a refused context; -1 when no event is
// left) and c 1 when the last context write held was made, 8 write v under
// k as 1 does, a context (that only 7's answer tells apart), 9 write the
// time now (a heartbeat: Math.floor(Date.now()), whole ms as now_ms reads
// it; a fraction would make other tabs take this one for gone) under k as
// 1 does. The tracker decides what to write with its state borrowed, and a
// page's wrapped Storage.prototype.setItem that calls it runs only once
// that borrow is dropped (the list is taken first: a nested hold starts its own).
// While a release runs, `gone` holds the keys removed meanwhile: a page's
// setItem wrapper may call optOut() between two held writes, and what it
// removed is not written back.
let held, gone;
export function storage(op, k, v) {
  let out = "",
    f = 0,
    r = 0,
    c = 1;
  if (op === 6 || op === 7) {
    const q = held,
      first = !gone;
    held = op < 7 ? [] : undefined;
    if (first) gone = {};
    // Plain loops and indexing: no Array method a page may have patched runs here.
    for (let i = 0, a, m; q && !held && (a = q[i++]); )
      if (a[0] === 2) storage(2, a[1]);
      else {
        m = !f && (gone[a[1]] || storage(1, a[1], a[2]));
        if (a[0] > 2) c = +m;
        // The first event not written: its key ends with ":" and its number.
        if (!m) (f = 1), r || a[0] > 1 || (r = 2 * +a[1].slice(a[1].lastIndexOf(":") + 1) + 2);
      }
    if (first) gone = undefined;
    return f ? r + c : -1;
  }
  if (op > 8) (op = 1), (v = "" + Math.floor(Date.now()));
  if (held && (op === 1 || op === 2 || op === 8)) return (held[held.length] = [op, k, v]), true;
  if (op === 8) op = 1;
  try {
    const s = localStorage;
    if (op === 0) return s.getItem(k);
    if (op === 1) return s.setItem(k, v), wrote(k), true;
    if (op === 2) return gone && (gone[k] = 1), s.removeItem(k), wrote(k), true;
    if (op === 3) {
      for (let i = 0; i < s.length; i++) {
        const key = s.key(i);
        if (key === null || !key.startsWith(k)) continue;
        const x = "" + s.getItem(key);
        let j;
        try {
          j = JSON.parse(x);
        } catch (_) {}
        out += j !== null && typeof j === "object" ? T("p", key, props("", j)) : T("s", key, x);
      }
      return out;
    }
    return s.length >= 0;
  } catch (_) {
    return op === 3 ? out : op === 0 ? null : false;
  }
}

// ---- Privacy, sessions, page views, hooks (see src/js/tracker/privacy.rs) ----

// Whether the browser asks not to be tracked: Global Privacy Control, or
// Do Not Track set to "1".
export function privacySignal() {
  try {
    const nav = globalThis.navigator;
    return nav?.globalPrivacyControl === true || nav?.doNotTrack === "1";
  } catch (_) {
    return false;
  }
}

// The page's URL now: document.URL, the text of location.href read in a
// tenth of the time in Chromium (page views, and every in-page navigation
// with autoPageViews "history").
export function pageUrl() {
  try {
    return "" + document.URL;
  } catch (_) {
    return "";
  }
}

// A page_view event (a tracked event in a page, see flattenEvent), with the
// referrer after an in-page navigation (`ref`, "" for none).
export const pageEvent = (p, ref) => flattenEvent("page_view", p, true, ref);

// The keys watchPage watches in this document, with their callbacks. The
// browser's `storage` event reaches other documents only, so a write by one
// tracker (optOut() saving the choice) is told to the other trackers of this
// document here, after the writing call has returned (a microtask), as the
// event would be.
const watched = new Set();
function wrote(k) {
  for (const [key, fire] of watched) if (key === k) queueMicrotask(fire);
}

// Calls `f()` when another tab, or another tracker of this document (see
// `wrote`), changes storage key `key` (or clears the storage) and, with
// `nav`, after every in-page navigation: history.pushState and replaceState
// (wrapped once), popstate and hashchange. The remover puts
// back the originals only where our wrapper is still the one installed (a
// library that wrapped them after us keeps its wrapper, which then calls
// ours, which no longer reacts). A failing `f` never breaks the page.
function watchPage(key, nav, cb, what) {
  if (!events()) return () => {};
  let active = true;
  const fire = () => {
    try {
      if (active) cb(what);
    } catch (_) {}
  };
  const offs = [on(globalThis, "storage", (e) => (e.key === key || e.key === null) && fire())];
  const mine = [key, fire];
  watched.add(mine);
  const h = nav && globalThis.history;
  if (h) {
    for (const m of ["pushState", "replaceState"]) {
      const orig = h[m];
      const ours = (h[m] = function () {
        const r = orig.apply(this, arguments);
        fire();
        return r;
      });
      offs.push(() => {
        if (h[m] === ours) h[m] = orig;
      });
    }
    offs.push(on(globalThis, "popstate", fire), on(globalThis, "hashchange", fire));
  }
  return () => {
    if (!active) return;
    active = false;
    watched.delete(mine);
    offs.forEach((f) => f());
  };
}

// beforeSend: calls the hook kept on the tracker's callback `cb` with the event (its JSON, parsed) and says what
// came of it: null when the hook dropped it (null or false), undefined when
// the event is unchanged, else the changed event in the entries form (an "X" entry
// when it is not an object), for Rust to validate again. What the hook (or
// reading what it returned) throws comes back as a "!" entry, and is kept
// for `caused`.
let thrown;
export function beforeSend(cb, json) {
  try {
    const event = JSON.parse(json);
    const f = cb.b;
    const r = f(event);
    if (r === null || r === false) return null;
    const out = r === undefined ? event : r;
    // Anything else than an event (a Promise too: beforeSend runs
    // synchronously): the error says what came back and what may.
    const what =
      typeof out !== "object"
        ? "a " + typeof out
        : typeof out.then === "function"
          ? "a Promise"
          : Array.isArray(out) && "an array";
    if (what) return T("X", "", what + " from beforeSend: return the event, null, false or undefined");
    return JSON.stringify(out) === json ? undefined : props("", out);
  } catch (e) {
    thrown = e;
    return threw(e);
  }
}

// The error about what beforeSend threw gets the thrown value as its cause.
export function caused(e) {
  e.cause = thrown;
  thrown = undefined;
}

// debug: one console.debug line, written here from what the tracker hands
// over: 0 queued (text: the event's JSON, parsed), 1 request a: b events to
// text (the URL with the app key hidden), 2 answer to request a: HTTP b.
export function debugLine(what, a, b, text) {
  try {
    const line = what ? (what > 1 ? "answer " + a + ": HTTP " + b : "request " + a + ": " + b + " event(s) to " + text) : "queued";
    console.debug("[coola-tracker] " + line, ...(what ? [] : [JSON.parse(text)]));
  } catch (_) {}
}
