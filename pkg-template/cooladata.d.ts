// Types of coola-tracker/cooladata: CoolaData's `cooladata` object on top of CoolaTracker.
import type { CoolaError, CoolaTracker, FlushReport, PropertyValue, TrackerOptions } from "./index.js";

/**
 * Properties as cooladata-js took them: flat, and serialised with JSON semantics (a `Date` is
 * sent as its ISO string, NaN and Infinity are left out). Nested objects and arrays are refused.
 */
export type CooladataProperties = Record<string, PropertyValue | Date>;

/** What `cooladata.init` takes: the configuration of CoolaData's snippet. */
export interface CooladataConfig {
  /** CoolaData app key (required). */
  app_key: string;
  /** Host of the tracking API, default "api.cooladata.com"; events go to https://{api_host}/v1/{app_key}/track (http for loopback hosts). */
  api_host?: string;
  /**
   * User id of every event. Default: the anonymous id of the `cd_user_id` cookie (as cooladata-js
   * keeps it, on the site's registrable domain so subdomains share it), else a new one; the cookie
   * is written or renewed with it, and localStorage holds the same id.
   */
  user_id?: string;
  /** Sent as the `session_id` property of every event. */
  session_id?: string;
  /**
   * Track a `page_load` event, as cooladata-js does: the first event, before the calls made after
   * `init`; with the snippet, after the calls it queued before the script loaded.
   */
  track_pageload?: boolean;
  /** Accepted for compatibility with existing snippets; requests are always POSTs. */
  img_src_get_request?: boolean;
  /** Accepted for compatibility with existing snippets; requests are always POSTs. */
  http_post?: boolean;
  /** Neither read nor write the anonymous id cookie (the id is kept in localStorage only). */
  disable_cookie?: boolean;
  /** Name of the anonymous id cookie, default "cd_user_id". */
  cookie_name?: string;
  /** Days the anonymous id cookie lasts, renewed on every page load; default 365. */
  cookie_expiration?: number;
  /**
   * Further CoolaTracker options (batchSize, flushIntervalMs, endpoint, onError, ...), given to
   * both trackers; `autoPageViews` only to trackEvent's (`trackers.now`): one page_view a page.
   */
  tracker?: Partial<Omit<TrackerOptions, "appKey" | "userId">>;
}

/** Called once the event's batch was acknowledged (no argument) or failed (the error). */
export type TrackCallback = (error?: CoolaError | Error) => void;

/** The snippet's queue protocol: `[method, ...args]` or a function called with the object. */
export type QueuedCall = [string, ...unknown[]] | ((this: Cooladata, cooladata: Cooladata) => void);

/** CoolaData's `cooladata` object. */
export interface Cooladata {
  /** Starts tracking; calls made before it (or before the wasm is loaded) are kept and run after. */
  init(config: CooladataConfig): void;
  /** The older form: the app key first. */
  init(appKey: string, config?: Omit<CooladataConfig, "app_key">): void;
  /** A second, named instance, then reachable as `cooladata[name]`. */
  init(config: CooladataConfig, unused: undefined, name: string): Cooladata;
  /** Tracks an event and sends it at once (events of the same task share a request). */
  trackEvent(eventName: string, properties?: CooladataProperties, callback?: TrackCallback): void;
  trackEvent(eventName: string, callback: TrackCallback): void;
  /** Queues an event; `flush()` sends it (page unload too, so it is not lost). Same session as trackEvent's. */
  trackEventLater(eventName: string, properties?: CooladataProperties): void;
  /** Sends everything queued; resolves when the requests have settled. */
  flush(): Promise<FlushReport>;
  /**
   * Tracks `page_load` through the tracker's `trackPageView()`: page URL and title,
   * and after an in-page navigation the previous URL as `referring_url`; `page`
   * overrides the URL.
   */
  trackPageload(page?: string): void;
  /** Merges configuration: user_id and session_id apply to later events; app_key or api_host start new trackers. */
  setConfig(config: Partial<CooladataConfig>): void;
  /** A copy of the configuration. */
  getConfig(): Partial<CooladataConfig>;
  /** One configuration value. */
  getConfig<K extends keyof CooladataConfig>(key: K): CooladataConfig[K];
  /** The snippet's queue protocol. */
  push(item: QueuedCall): void;
  /**
   * Resolves once the trackers are ready (after init); rejects when they could not start, with
   * the error (a `CoolaError`: an init without a non-empty `app_key` gives `invalid_option`,
   * field "app_key"; a bad option the tracker refused, its own `invalid_option`).
   */
  ready(): Promise<void>;
  /** Flushes and stops the trackers. */
  shutdown(): Promise<FlushReport>;
  /** Events queued and not yet acknowledged. */
  readonly pending: number;
  /** The trackers behind it once ready: `now` for trackEvent, `later` for trackEventLater. */
  readonly trackers: { now: CoolaTracker; later: CoolaTracker } | null;

  /** cooladata-js's snake_case names. */
  track_event: Cooladata["trackEvent"];
  track_event_later: Cooladata["trackEventLater"];
  track_pageload: Cooladata["trackPageload"];
  set_config: Cooladata["setConfig"];
  get_config: Cooladata["getConfig"];
}

/** The page's `cooladata` object (in a page also `window.cooladata`). */
export declare const cooladata: Cooladata;
export default cooladata;
/** A new, independent `cooladata` object. */
export declare function createCooladata(name?: string): Cooladata;
/** The track URL of an api_host: `https://{api_host}/v1/{appKey}/track`, http for loopback hosts. */
export declare function endpointFor(apiHost?: string): string;
/** Takes over a snippet's `window.cooladata` stub (done on load in a page): its init calls, its queued calls, then the page load. */
export declare function adoptSnippet(cooladata: Cooladata, stub: unknown[]): void;
