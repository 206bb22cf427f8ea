// coola-tracker/cooladata: the `cooladata` object of CoolaData's own JS
// tracker (cooladata-js and its snippet) on top of CoolaTracker, so that a
// site swaps the script and keeps its calls:
//
//   cooladata.init({ app_key, api_host, user_id, session_id, track_pageload,
//                    cookie_name, cookie_expiration, disable_cookie })
//   cooladata.trackEvent(name, properties, callback)
//   cooladata.trackEventLater(name, properties)    queued, sent by flush()
//   cooladata.flush()
//   cooladata.trackPageload()
//   cooladata.setConfig({ user_id, session_id, ... })
//
// What a site's reports see is what cooladata-js sent: tracker_type
// "javascript" (tracker_version says "coola-tracker/<version>"), values
// serialised with JSON semantics (a Date as its ISO string, NaN and Infinity
// left out), referring_domain with the referrer's port, and the anonymous id
// in the `cd_user_id` cookie of the site's registrable domain, shared by its
// subdomains. What changes for the better: events are validated, batched
// (calls made in the same task share one request), retried, and sent on page
// unload.
//
// Loading: `import { cooladata } from "coola-tracker/cooladata"` (bundlers),
// `<script type="module" src=".../cooladata.js">`, or the classic script
// `web/cooladata.global.js` in place of the snippet's cdn URL. In a page the
// module takes over the snippet's `window.cooladata` stub and replays the
// calls it queued, then stands in for it.

import init, { CoolaTracker } from "./web/coola_tracker.js";

const PRIMARY = "cooladata";
// The package's version, written in by pkg-template/assemble.mjs.
const VERSION = "__COOLA_VERSION__";
const DEFAULT_HOST = "api.cooladata.com";
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i;
const TRACKER_TYPE = "javascript";
// cooladata-js's name for trackPageload's event.
const PAGELOAD_EVENT = "page_load";

function inPage() {
  return typeof document === "object" && document !== null && typeof location === "object";
}
const TRACKER_VERSION = `coola-tracker/${VERSION}`;
const COOKIE_NAME = "cd_user_id";
const COOKIE_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;
const EMPTY_REPORT = Object.freeze({ sent: 0, failed: 0, pending: 0, requests: 0 });

/**
 * The track URL of an `api_host` as cooladata-js builds it:
 * `https://{api_host}/v1/{appKey}/track`, http for loopback hosts (unless
 * the host names https). A scheme given in `api_host` is accepted.
 */
export function endpointFor(apiHost) {
  let host = String(apiHost == null || apiHost === "" ? DEFAULT_HOST : apiHost).trim();
  let scheme = "";
  const m = /^(?:(https?):)?\/\//i.exec(host);
  if (m) {
    scheme = (m[1] || "").toLowerCase();
    host = host.slice(m[0].length);
  }
  host = host.replace(/\/+$/, "");
  const name = host.split("/")[0];
  const proto = LOOPBACK.test(name) ? scheme || "http" : "https";
  return `${proto}://${host}/v1/{appKey}/track`;
}

function log(level, ...args) {
  try {
    console[level]("coola-tracker (cooladata):", ...args);
  } catch (_) {}
}

function callBack(cb, arg) {
  if (typeof cb !== "function") return;
  try {
    cb(arg);
  } catch (e) {
    log("error", "a callback threw:", e);
  }
}

function cookie(name) {
  try {
    for (const part of String(document.cookie).split(";")) {
      const i = part.indexOf("=");
      if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
    }
  } catch (_) {}
  return "";
}

// An id the tracker can use as user_id (what its own storage accepts).
function plausibleId(v) {
  return typeof v === "string" && v !== "" && v.length <= 128 && !/[\u0000-\u001f\u007f-\u009f]/.test(v);
}

// The domains a cookie of this host may be set on, shortest first: the
// registrable domain is the shortest the browser accepts (it refuses public
// suffixes: "com", "co.uk", "github.io"). An IP address or a one-label host
// (localhost) gets a host-only cookie (null).
function cookieDomains(host) {
  if (!host || host.indexOf(".") === -1 || /^[\d.]+$/.test(host) || host.indexOf(":") !== -1) return [null];
  const labels = host.split(".");
  const out = [];
  for (let i = labels.length - 2; i >= 0; i--) out.push(labels.slice(i).join("."));
  return out;
}

/**
 * Writes (or renews) the anonymous id cookie as cooladata-js does: on the
 * site's registrable domain, so its subdomains share it, for `days` days,
 * `path=/`, `SameSite=Lax`, `Secure` on https. Returns the domain it was set
 * on ("" for a host-only cookie, null when the browser took none).
 */
function writeIdCookie(name, value, days) {
  try {
    const attrs =
      `; path=/; expires=${new Date(Date.now() + days * DAY_MS).toUTCString()}; SameSite=Lax` +
      (location.protocol === "https:" ? "; Secure" : "");
    const probe = `${name}_probe_${Math.random().toString(36).slice(2)}`;
    for (const domain of cookieDomains(location.hostname)) {
      const on = domain === null ? "" : `; domain=${domain}`;
      if (domain !== null) {
        // A throwaway cookie tells whether the browser accepts this domain.
        document.cookie = `${probe}=1${on}${attrs}`;
        const took = cookie(probe) === "1";
        document.cookie = `${probe}=${on}; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT`;
        if (!took) continue;
      }
      document.cookie = `${name}=${encodeURIComponent(value)}${on}${attrs}`;
      return domain === null ? "" : domain;
    }
  } catch (_) {}
  return null;
}

// localStorage access that never throws.
function storageSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch (_) {}
}

// The referrer's host with its port, as cooladata-js sends referring_domain.
function referringDomain() {
  try {
    const ref = typeof document === "object" && document ? String(document.referrer || "") : "";
    return ref ? new URL(ref).host : "";
  } catch (_) {
    return "";
  }
}

// What cooladata-js's JSON encoding made of a value: a Date its ISO string,
// a non-finite number (and an invalid Date) null, which CoolaData leaves out
// (undefined here). Anything else is the tracker's to judge.
function jsonValue(v) {
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.toISOString() : undefined;
  return v;
}

// Like cooladata-js's extend: undefined values do not overwrite.
function defined(obj) {
  const out = {};
  if (obj && typeof obj === "object") {
    for (const k of Object.keys(obj)) if (obj[k] !== undefined) out[k] = obj[k];
  }
  return out;
}

function sum(reports) {
  const r = { sent: 0, failed: 0, pending: 0, requests: 0 };
  for (const x of reports) for (const k in r) r[k] += Number(x && x[k]) || 0;
  return r;
}

// The report counts each event once: failed were given up on (onError had
// them), pending stay queued and are retried.
function notAcknowledged(report) {
  const e = new Error(
    `${report.failed + report.pending} event(s) were not acknowledged: ${report.failed} given up on, ` +
      `${report.pending} queued and retried`,
  );
  e.code = "request_failed";
  e.count = report.failed + report.pending;
  return e;
}

/**
 * A new, independent `cooladata` object (the module's `cooladata` is one).
 * @param {string} [name] the instance's name, as in `cooladata.init(config, undefined, name)`
 */
export function createCooladata(name = PRIMARY) {
  let config = {};
  /** @type {CoolaTracker | null} sends at once (trackEvent) */
  let now = null;
  /** @type {CoolaTracker | null} holds until flush() (trackEventLater), or page unload */
  let later = null;
  let initialised = false;
  let failure = null;
  let queue = [];
  let waiting = [];
  let scheduled = false;
  let referrer = "";
  // True while trackPageload's page view is being tracked (see withPageload).
  let pageload = false;
  // While trackEventLater asks `now` for the session of its event (see
  // laterSession): what `now`'s beforeSend hands the event to.
  let capture = null;

  // Runs `fn` once the trackers exist, in call order; `fail(error)` instead
  // when they could not be made.
  function whenReady(fn, fail) {
    if (failure) return fail && fail(failure);
    if (now) return fn();
    queue.push([fn, fail]);
  }

  function drain() {
    const q = queue;
    queue = [];
    for (const [fn, fail] of q) {
      try {
        if (failure) fail && fail(failure);
        else fn();
      } catch (e) {
        log("error", e);
      }
    }
  }

  function trackerOptions() {
    const extra = config.tracker && typeof config.tracker === "object" ? config.tracker : {};
    return {
      onError: (e) => log("warn", e && e.message),
      ...extra,
      appKey: config.app_key,
      endpoint: extra.endpoint || endpointFor(config.api_host),
    };
  }

  // trackPageload is the tracker's trackPageView (page URL and title, and
  // after an in-page navigation the previous URL as referring_url) under
  // cooladata-js's event name, page_load: while trackPageload runs, the
  // tracker's beforeSend renames the page view, then calls the site's own
  // beforeSend (tracker.beforeSend) if it gave one. A beforeSend that is not
  // a function is passed on for the tracker to refuse. While laterSession
  // runs, it takes the event and drops it (the site's own is not called:
  // `later`'s beforeSend, the site's, sees the event that is sent).
  function withPageload(opts) {
    const own = opts.beforeSend;
    if (own !== undefined && typeof own !== "function") return opts;
    return {
      ...opts,
      beforeSend: (event) => {
        if (capture) {
          capture(event);
          return null;
        }
        if (pageload && event.event_name === "page_view") event.event_name = PAGELOAD_EVENT;
        return own === undefined ? undefined : own(event);
      },
    };
  }

  // The anonymous id, as cooladata-js keeps it: the cookie (cookie_name,
  // default cd_user_id) unless disable_cookie; else, and for a new visitor,
  // the tracker's own (kept in localStorage). Either way the cookie is then
  // written or renewed with it and localStorage holds the same id.
  function makeTrackers() {
    const opts = trackerOptions();
    const given = config.user_id != null && config.user_id !== "" ? String(config.user_id) : "";
    const page = inPage();
    const useCookie = !given && page && !config.disable_cookie;
    const name = typeof config.cookie_name === "string" && config.cookie_name !== "" ? config.cookie_name : COOKIE_NAME;
    const fromCookie = useCookie ? cookie(name) : "";
    const known = plausibleId(fromCookie) ? fromCookie : "";
    const a = new CoolaTracker({ ...withPageload(opts), userId: given || known || undefined });
    if (useCookie) {
      const days = Number(config.cookie_expiration) > 0 ? Number(config.cookie_expiration) : COOKIE_DAYS;
      writeIdCookie(name, a.userId, days);
      if (known && opts.persist !== false) storageSet(`${opts.storageKey || "coola"}:user_id`, known);
    }
    referrer = referringDomain();
    let b;
    try {
      // No timer: trackEventLater's events wait for flush() (or page hide).
      // Kept in memory only: a tracker without a timer does not refresh its
      // localStorage heartbeat, and another tab would take over (and send)
      // events it still holds.
      // Its events take `now`'s session (see laterSession), which is the
      // one in localStorage, shared by the site's tabs.
      // No autoPageViews: the page views are `now`'s (else each page view
      // twice, `later`'s held until flush(), and history hooked twice). The
      // other options are what its own events need too: endpoint, format,
      // batching, retries, storageKey (the saved consent choice), optOut,
      // privacySignals, sessions, page properties, properties, beforeSend
      // (the site's: see withPageload), sampleRate (same user, same
      // decision), onError and debug (its lines are of its own events).
      b = new CoolaTracker({ ...opts, userId: a.userId, flushIntervalMs: 0, persist: false, autoPageViews: false });
    } catch (e) {
      a.shutdown();
      throw e;
    }
    now = a;
    later = b;
  }

  // The event's properties: what cooladata-js filled in that the tracker
  // does not (or fills otherwise), then the caller's, converted as JSON
  // would have converted them. No prototype: a "__proto__" key is a key.
  function props(p) {
    const out = Object.create(null);
    out.tracker_type = TRACKER_TYPE;
    out.tracker_version = TRACKER_VERSION;
    if (referrer) out.referring_domain = referrer;
    if (config.session_id != null && config.session_id !== "") out.session_id = String(config.session_id);
    if (p === undefined || p === null) return out;
    if (typeof p !== "object" || Array.isArray(p)) return p; // the tracker says what is wrong
    for (const k of Object.keys(p)) {
      const raw = p[k];
      if (raw === undefined) continue; // as cooladata-js's extend: the default stays
      const v = jsonValue(raw);
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    return out;
  }

  // The properties `p` of a trackEventLater event with the session_id `now`
  // gives it: `later` keeps its events in memory only, and so its own
  // session, which would differ from the visit's. `now` tracks the event
  // (validated, the session rolled over after a gap and the event counted
  // as activity in it, as for trackEvent) and its beforeSend hands it over
  // and drops it. No session_id when `now` would send none (sessions off,
  // opted out, sampled out: `later` decides the same) or the event has one.
  // Throws what `now.track` throws (what `later.track` would).
  function laterSession(eventName, p) {
    // props() gave an object, or what the tracker is to refuse.
    if (typeof p !== "object" || p.session_id !== undefined) return p;
    let seen;
    capture = (event) => (seen = event);
    try {
      now.track(eventName, p);
    } finally {
      capture = null;
    }
    if (seen && seen.session_id) p.session_id = seen.session_id;
    return p;
  }

  // trackEvent: everything tracked in this task goes out in one request; the
  // callbacks are called when that flush has settled.
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    Promise.resolve().then(() => {
      scheduled = false;
      const cbs = waiting;
      waiting = [];
      now.flush().then(
        (report) => {
          const err = report.failed + report.pending > 0 ? notAcknowledged(report) : undefined;
          for (const cb of cbs) callBack(cb, err);
        },
        (e) => {
          for (const cb of cbs) callBack(cb, e);
        },
      );
    });
  }

  const api = {
    /**
     * cooladata.init({ app_key, api_host, user_id, session_id, track_pageload })
     * Also accepted: init(app_key, config), and init(config, _, name) for a
     * second, named instance (cooladata[name]).
     */
    init(cfg, extra, instance) {
      if (typeof cfg === "string") cfg = { ...defined(extra), app_key: cfg };
      if (instance !== undefined && instance !== name) {
        if (!api[instance] || Array.isArray(api[instance])) {
          const sub = createCooladata(instance);
          const stub = api[instance];
          api[instance] = sub;
          if (Array.isArray(stub)) takeOver(() => sub.init(cfg), () => replay(sub, stub));
          else sub.init(cfg);
        }
        return api[instance];
      }
      if (initialised) {
        log("warn", "already initialised; call setConfig to change the configuration");
        return;
      }
      if (!cfg || typeof cfg !== "object" || typeof cfg.app_key !== "string" || cfg.app_key === "") {
        // As when the trackers could not start: ready() rejects, the calls
        // waiting and later ones fail (callbacks get the error).
        failure = Object.assign(new Error("init needs { app_key: string }, not empty"), {
          code: "invalid_option",
          field: "app_key",
        });
        initialised = true;
        log("error", failure.message);
        drain();
        return;
      }
      initialised = true;
      config = { ...config, ...defined(cfg) };
      Promise.resolve()
        .then(() => init())
        .then(() => makeTrackers())
        .catch((e) => {
          failure = e instanceof Error ? e : new Error(String(e));
          log("error", "could not start:", failure.message);
        })
        .then(drain);
      // As cooladata-js's init: the page load first, before the calls made
      // after init (queued, as they are, until the trackers are ready); when
      // a snippet's stub is taken over, after the calls it queued.
      if (config.track_pageload) {
        if (heldPageloads) heldPageloads.push(api);
        else api.trackPageload();
      }
    },

    /** Tracks an event and sends it (with others of the same task); `callback(error?)` when acknowledged or failed. */
    trackEvent(eventName, properties, callback) {
      if (typeof properties === "function" && callback === undefined) {
        callback = properties;
        properties = undefined;
      }
      whenReady(
        () => {
          try {
            now.track(eventName, props(properties));
          } catch (e) {
            log("error", e.message);
            Promise.resolve(e).then((err) => callBack(callback, err));
            return;
          }
          if (typeof callback === "function") waiting.push(callback);
          schedule();
        },
        (e) => callBack(callback, e),
      );
    },

    /** Queues an event without sending it: flush() sends it (and page unload, so it is not lost). */
    trackEventLater(eventName, properties) {
      whenReady(() => {
        try {
          later.track(eventName, laterSession(eventName, props(properties)));
        } catch (e) {
          log("error", e.message);
        }
      });
    },

    /** Sends everything queued; resolves with the FlushReport when the requests have settled. */
    flush() {
      return new Promise((resolve) => {
        whenReady(
          () => Promise.all([later.flush(), now.flush()]).then((r) => resolve(sum(r)), () => resolve(EMPTY_REPORT)),
          () => resolve(EMPTY_REPORT),
        );
      });
    },

    /**
     * Tracks `page_load` through the tracker's trackPageView: page URL and
     * title, and after an in-page navigation the previous URL as
     * referring_url; `page` overrides the URL. Sent at once, as trackEvent.
     * Outside a page (no document) it is a plain `page_load` event.
     */
    trackPageload(page) {
      const p = page === undefined ? undefined : { page_url: String(page) };
      if (!inPage()) return api.trackEvent(PAGELOAD_EVENT, p);
      whenReady(() => {
        pageload = true;
        try {
          now.trackPageView(props(p));
        } catch (e) {
          log("error", e.message);
          return;
        } finally {
          pageload = false;
        }
        schedule();
      });
    },

    /** Merges configuration: user_id and session_id apply to later events; app_key or api_host start new trackers. */
    setConfig(cfg) {
      if (!cfg || typeof cfg !== "object") return;
      const changes = defined(cfg);
      if (!initialised) {
        config = { ...config, ...changes };
        return;
      }
      whenReady(() => {
        const before = config;
        config = { ...config, ...changes };
        const moved = ["app_key", "api_host", "tracker"].some((k) => k in changes && changes[k] !== before[k]);
        if (moved) {
          const old = [now, later];
          try {
            makeTrackers();
            for (const t of old) t.shutdown();
          } catch (e) {
            config = before;
            log("error", "setConfig:", e.message);
          }
          return;
        }
        if ("user_id" in changes) {
          try {
            now.setUserId(String(changes.user_id));
            later.setUserId(String(changes.user_id));
          } catch (e) {
            log("error", "setConfig:", e.message);
          }
        }
      });
    },

    /** One configuration value, or a copy of all. */
    getConfig(key) {
      return key === undefined ? { ...config } : config[key];
    },

    /** The snippet's queue protocol: push([method, ...args]) or push(function). */
    push(item) {
      if (typeof item === "function") item.call(api, api);
      else if (Array.isArray(item) && typeof api[item[0]] === "function") api[item[0]](...item.slice(1));
    },

    /** Resolves when the trackers are ready (after init); rejects when they could not start (a bad init included). */
    ready() {
      return new Promise((resolve, reject) => whenReady(resolve, reject));
    },

    /** Flushes both queues and stops the trackers; for single-page apps tearing down. */
    shutdown() {
      return new Promise((resolve) => {
        whenReady(
          () => Promise.all([later.shutdown(), now.shutdown()]).then((r) => resolve(sum(r)), () => resolve(EMPTY_REPORT)),
          () => resolve(EMPTY_REPORT),
        );
      });
    },

    /** Events queued and not yet acknowledged. */
    get pending() {
      return now ? now.pending + later.pending : 0;
    },

    /** The underlying trackers, once ready: { now, later }. */
    get trackers() {
      return now ? { now, later } : null;
    },

    toString() {
      return name === PRIMARY ? PRIMARY : `${PRIMARY}.${name}`;
    },
  };
  // Marks the object as loaded for the snippet, should it run again.
  api.__SV = 1.2;
  // cooladata-js's snake_case names.
  api.track_event = api.trackEvent;
  api.track_event_later = api.trackEventLater;
  api.track_pageload = api.trackPageload;
  api.set_config = api.setConfig;
  api.get_config = api.getConfig;
  return api;
}

// The cooladata objects whose init asked for a page load while takeOver
// runs a snippet's init calls (null otherwise): takeOver tracks it.
let heldPageloads = null;

// Takes over a snippet's stub as cooladata-js's loader does: runs its init
// calls (`inits`), replays the calls it queued (`calls`), then tracks the
// page loads those inits asked for, after the replayed calls.
function takeOver(inits, calls) {
  const outer = heldPageloads;
  const held = (heldPageloads = []);
  try {
    inits();
  } finally {
    heldPageloads = outer;
  }
  calls();
  for (const api of held) api.trackPageload();
}

// Replays the calls a snippet stub queued, in the order it queued them:
// `trackEventLater(a); trackEventLater(b); flush()` sends a and b.
function replay(api, stub) {
  for (const item of stub) {
    try {
      api.push(item);
    } catch (e) {
      log("error", e);
    }
  }
}

/** Takes over a snippet's `window.cooladata` stub: its init calls, its queued calls, then the page load (track_pageload). */
export function adoptSnippet(api, stub) {
  takeOver(
    () => {
      for (const item of (stub && stub._i) || []) {
        if (!Array.isArray(item)) continue;
        const [cfg, extra, instance] = item;
        if (instance === undefined || instance === PRIMARY) api.init(cfg, extra);
        else api.init(cfg, extra, instance);
      }
    },
    () => {
      replay(api, stub);
      for (const key of Object.keys(stub)) {
        if (key !== "_i" && Array.isArray(stub[key]) && api[key] && !Array.isArray(api[key])) replay(api[key], stub[key]);
      }
    },
  );
}

/** The page's `cooladata` object. */
export const cooladata = createCooladata();
export default cooladata;

if (typeof window === "object" && window !== null && typeof document === "object") {
  const existing = window.cooladata;
  if (Array.isArray(existing)) {
    window.cooladata = cooladata;
    adoptSnippet(cooladata, existing);
  } else if (existing === undefined) {
    window.cooladata = cooladata;
  }
}
