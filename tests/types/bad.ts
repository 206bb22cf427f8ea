// Typical mistakes: each line marked `// error: TSnnnn` must make
// `tsc --strict` report that error on that line, and no line may report
// anything else (tests/package/types.test.mjs checks both).
import { CoolaTracker, parseTimestamp, visitorProperties, type CoolaError, type FlushReport } from "coola-tracker";
import { cooladata } from "coola-tracker/cooladata";
import { createCollector } from "coola-tracker/edge";

// Options
new CoolaTracker({ appKey: "k", flushInterval: 0 }); // error: TS2561
new CoolaTracker({ appKey: "k", retries: 3 }); // error: TS2353
new CoolaTracker({ apiKey: "k" }); // error: TS2561
new CoolaTracker({ endpoint: "https://example.com/{appKey}" }); // error: TS2345
new CoolaTracker({ appKey: "k", bodyFormat: "json" }); // error: TS2322
new CoolaTracker({ appKey: "k", flushIntervalMs: "5000" }); // error: TS2322
new CoolaTracker({ appKey: "k", sessionDua: true }); // error: TS2322
new CoolaTracker({ appKey: "k", onError: (message: string) => console.log(message) }); // error: TS2322
new CoolaTracker({ appKey: "k", onError: (error: Error, retry: boolean) => console.log(error, retry) }); // error: TS2322
new CoolaTracker(); // error: TS2554

const tracker = new CoolaTracker({ appKey: "k" });

// Properties: flat values only
tracker.track("checkout", { cart: { items: 2 } }); // error: TS2322
tracker.track("checkout", { tags: ["a", "b"] }); // error: TS2322
tracker.track("checkout", { at: new Date() }); // error: TS2322
tracker.track({ event_name: "checkout" }); // error: TS2345
tracker.track(42); // error: TS2345
tracker.setUserId(42); // error: TS2345

// Results and errors
const report: FlushReport = tracker.flush(); // error: TS2739
const sent: string = (await tracker.flush()).sent; // error: TS2322
tracker.pending = 0; // error: TS2540
declare const err: CoolaError;
if (err.code === "network_error") console.log(err); // error: TS2367
parseTimestamp({ year: 2015 }); // error: TS2353
visitorProperties("203.0.113.7"); // error: TS2345

// Privacy, sessions, page views, hooks
new CoolaTracker({ appKey: "k", autoPageViews: "hash" }); // error: TS2322
new CoolaTracker({ appKey: "k", sampleRate: "0.5" }); // error: TS2322
new CoolaTracker({ appKey: "k", optOut: "yes" }); // error: TS2322
new CoolaTracker({ appKey: "k", properties: { cart: { items: 2 } } }); // error: TS2322
new CoolaTracker({ appKey: "k", beforeSend: true }); // error: TS2322
tracker.optedOut = true; // error: TS2540
tracker.optOut(true); // error: TS2554
const session: number = tracker.sessionId; // error: TS2322
tracker.trackPageView("home"); // error: TS2345
tracker.setProperties({ tags: ["a"] }); // error: TS2322
if (err.code === "before_send") console.log(err); // error: TS2367

// The cooladata drop-in
cooladata.init({ appKey: "k" }); // error: TS2769
cooladata.trackEvent("x", { nested: { a: 1 } }); // error: TS2769
cooladata.trackEvent("x", {}, (status: number) => console.log(status)); // error: TS2345
cooladata.setConfig({ user: "u" }); // error: TS2353

// The edge collector, and a page pointed at it
createCollector({ queue: 1 }); // error: TS2322
createCollector({ allowedOrigin: ["https://x.example"] }); // error: TS2561
createCollector().fetch("/collect", {}); // error: TS2345
new CoolaTracker({ endpoint: "collect" }); // error: TS2345

export {};
