// coola-tracker/cooladata: the `cooladata` object of CoolaData's own JS
// tracker (cooladata-js and its snippet) on top of CoolaTracker, so that a
// site swaps the script and keeps its calls:
//
//   cooladata.init({ app_key, api_host, user_id, session_id, track_pageload })
//   cooladata.trackEvent(name, properties, callback)
//   cooladata.trackEventLater(name, properties)    queued, sent by flush()
//   cooladata.flush()
//   cooladata.trackPageload()
//   cooladata.setConfig({ user_id, session_id, ... })
//
// What changes for the better: events are validated, batched (calls made in
// the same task share one request), retried, and sent on page unload.
//
// Loading: `import { cooladata } from "coola-tracker/cooladata"` (bundlers),
// `<script type="module" src=".../cooladata.js">`, or the classic script
// `web/cooladata.global.js` in place of the snippet's cdn URL. In a page the
// module takes over the snippet's `window.cooladata` stub and replays the
// calls it queued, then stands in for it.

import init, { CoolaTracker } from "./web/coola_tracker.js";

const PRIMARY = "cooladata";
const DEFAULT_HOST = "api.cooladata.com";
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i;
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

function notAcknowledged(report) {
  const e = new Error(
    `${report.failed} event(s) of this batch were not acknowledged; they stay queued and are retried`,
  );
  e.code = "request_failed";
  e.count = report.failed;
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
  let loading = null;
  let queue = [];
  let waiting = [];
  let scheduled = false;

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

  function makeTrackers() {
    const opts = trackerOptions();
    const userId = config.user_id != null && config.user_id !== "" ? String(config.user_id) : cookie("cd_user_id");
    const a = new CoolaTracker({ ...opts, userId: userId || undefined });
    let b;
    try {
      // No timer: trackEventLater's events wait for flush() (or page hide).
      // Kept in memory only: a tracker without a timer does not refresh its
      // localStorage heartbeat, and another tab would take over (and send)
      // events it still holds.
      b = new CoolaTracker({ ...opts, userId: a.userId, flushIntervalMs: 0, persist: false });
    } catch (e) {
      a.shutdown();
      throw e;
    }
    now = a;
    later = b;
  }

  function props(p) {
    const out = {};
    if (config.session_id != null && config.session_id !== "") out.session_id = String(config.session_id);
    if (p === undefined || p === null) return out;
    if (typeof p !== "object" || Array.isArray(p)) return p; // the tracker says what is wrong
    return Object.assign(out, p);
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
          const err = report.failed > 0 ? notAcknowledged(report) : undefined;
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
          sub.init(cfg);
          if (Array.isArray(stub)) replay(sub, stub);
        }
        return api[instance];
      }
      if (initialised) {
        log("warn", "already initialised; call setConfig to change the configuration");
        return;
      }
      if (!cfg || typeof cfg !== "object" || typeof cfg.app_key !== "string" || cfg.app_key === "") {
        log("error", "init needs { app_key: string }");
        return;
      }
      initialised = true;
      config = { ...config, ...defined(cfg) };
      loading = Promise.resolve()
        .then(() => init())
        .then(() => makeTrackers())
        .catch((e) => {
          failure = e instanceof Error ? e : new Error(String(e));
          log("error", "could not start:", failure.message);
        })
        .then(() => {
          drain();
          if (!failure && config.track_pageload) api.trackPageload();
        });
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
          later.track(eventName, props(properties));
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

    /** Tracks `page_load` (page URL and title are filled in). */
    trackPageload(page) {
      api.trackEvent("page_load", page === undefined ? undefined : { page_url: String(page) });
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

    /** Resolves when the trackers are ready (after init). */
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

// Replays the calls a snippet stub queued: configuration calls first, then
// tracking calls, as cooladata-js does.
function replay(api, stub) {
  const calls = [];
  const tracking = [];
  for (const item of stub) {
    if (typeof item === "function") calls.push(item);
    else if (Array.isArray(item) && typeof item[0] === "string") {
      (item[0].indexOf("track") !== -1 ? tracking : calls).push(item);
    }
  }
  for (const item of [...calls, ...tracking]) {
    try {
      api.push(item);
    } catch (e) {
      log("error", e);
    }
  }
}

/** Takes over a snippet's `window.cooladata` stub: its init calls, then its queued calls. */
export function adoptSnippet(api, stub) {
  for (const item of (stub && stub._i) || []) {
    if (!Array.isArray(item)) continue;
    const [cfg, extra, instance] = item;
    if (instance === undefined || instance === PRIMARY) api.init(cfg, extra);
    else api.init(cfg, extra, instance);
  }
  replay(api, stub);
  for (const key of Object.keys(stub)) {
    if (key !== "_i" && Array.isArray(stub[key]) && api[key] && !Array.isArray(api[key])) replay(api[key], stub[key]);
  }
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
