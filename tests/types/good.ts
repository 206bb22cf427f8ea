// Uses the public API the right way: must type-check with `tsc --strict`
// (tests/package/types.test.mjs, with both "bundler" and "nodenext" module
// resolution). Nothing here may need a cast or an `any`.
import init, {
  CoolaTracker,
  encodeBatch,
  parseTimestamp,
  validateEvent,
  visitorProperties,
  type CoolaError,
  type ErrorCode,
  type FlushReport,
  type Properties,
  type TrackerOptions,
} from "coola-tracker";

await init();

const seen: ErrorCode[] = [];
const options: TrackerOptions = {
  appKey: "YOUR_APP_KEY",
  endpoint: "https://api.cooladata.com/v3/{appKey}/track",
  bodyFormat: "raw",
  batchSize: 100,
  flushIntervalMs: 0,
  maxQueueSize: 1000,
  serverTimestamp: false,
  userId: "user-1",
  sessionDua: false,
  sessionIp: "0",
  onError(error) {
    const code: ErrorCode = error.code;
    const field: string | undefined = error.field;
    const message: string = error.message;
    const isError: Error = error;
    seen.push(code);
    console.warn(code, field, message, isError.name);
  },
};
const tracker = new CoolaTracker(options);
new CoolaTracker({ appKey: "k", sessionDua: "Mozilla/5.0", onError: (e: Error) => console.warn(e.message) });
new CoolaTracker({ appKey: "k", onError: () => {} });

const properties: Properties = { plan: "pro", price: 9.99, paid: true, coupon: null, note: undefined };
const id: string = tracker.track("signup", properties);
tracker.track("login");
tracker.track("purchase", { sku: "A-1", quantity: 2, event_timestamp_epoch: parseTimestamp("2015-01-05") });
tracker.setUserId("user-42");

const report: FlushReport = await tracker.flush();
const total: number = report.sent + report.failed + report.pending + report.requests;
const pending: number = tracker.pending;
const closing: Promise<FlushReport> = tracker.shutdown();

const ms: number = parseTimestamp("Mon, 05 Jan 2015 10:00:00 GMT");
parseTimestamp(1420452000000);
parseTimestamp(new Date(), { nowMs: Date.now() });

const event: Record<string, string | number> = validateEvent({ event_name: "x", user_id: "u", event_timestamp_epoch: ms });
validateEvent({ event_name: "x", user_id: "u" }, { serverTimestamp: true, nowMs: Date.now() });
const body: string = encodeBatch([event]);
encodeBatch([event], { bodyFormat: "form", serverTimestamp: false });

// A Worker's fetch handler: events describe the visitor, flushed through waitUntil.
interface Ctx {
  waitUntil(promise: Promise<unknown>): void;
}
export const worker = {
  async fetch(request: Request, env: { APP_KEY: string }, ctx: Ctx): Promise<Response> {
    const edge = new CoolaTracker({ appKey: env.APP_KEY, flushIntervalMs: 0, sessionDua: false });
    const visitor = visitorProperties(request);
    const ip: string = visitor.session_ip;
    const ua: string | undefined = visitor.session_dua;
    edge.track("page_view", { ...visitor, path: new URL(request.url).pathname });
    ctx.waitUntil(edge.flush());
    return new Response(`${ip} ${ua ?? ""}`);
  },
};

// Errors carry a code from the union; a switch over it can be exhaustive.
function describe(code: ErrorCode): string {
  switch (code) {
    case "missing_field":
    case "invalid_timestamp":
    case "timestamp_out_of_window":
    case "nested_property":
    case "invalid_value":
    case "reserved_property":
    case "invalid_property_name":
    case "event_too_large":
    case "batch_too_large":
    case "invalid_option":
      return "bad input";
    case "tracker_closed":
    case "queue_full":
    case "request_failed":
      return "while sending";
    default:
      return code;
  }
}
try {
  tracker.track("after shutdown");
} catch (e) {
  const err = e as CoolaError;
  console.log(describe(err.code), err.field ?? "");
}

// Privacy, sessions, page views, hooks.
const consented = new CoolaTracker({
  appKey: "k",
  optOut: true,
  privacySignals: true,
  sessionTimeoutMs: 30 * 60 * 1000,
  autoPageViews: "history",
  properties: { plan: "pro", seats: 3, beta: true, gone: null },
  beforeSend(e) {
    if (e.event_name === "internal") return null;
    if (e.event_name === "noise") return false;
    e.app_version = "1.2.3";
    return undefined;
  },
  sampleRate: 0.25,
  debug: true,
});
new CoolaTracker({ appKey: "k", autoPageViews: true, beforeSend: (e) => ({ ...e, shown: 1 }) });
new CoolaTracker({ appKey: "k", optOut: false, beforeSend: () => {} });
consented.optIn();
const out: boolean = consented.optedOut;
consented.optOut();
const session: string = consented.sessionId;
const viewId: string = consented.trackPageView();
consented.trackPageView({ section: "docs" });
consented.setProperties({ plan: "team", seats: undefined });
try {
  consented.track("x");
} catch (e) {
  const err = e as CoolaError;
  if (err.code === "before_send_failed") console.log(err.cause);
}

console.log(id, total, pending, closing, body, seen, out, session, viewId);
