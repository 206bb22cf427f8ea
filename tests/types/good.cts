// CommonJS users (`require`) get the same types (checked with "nodenext" only).
import coola = require("coola-tracker");

const tracker = new coola.CoolaTracker({ appKey: "k", flushIntervalMs: 0, onError: (e) => console.warn(e.code) });
const id: string = tracker.track("signup", { plan: "pro" });
const pending: Promise<coola.FlushReport> = tracker.shutdown();
const ms: number = coola.parseTimestamp("2015-01-05");
console.log(id, pending, ms);
// `using` frees it at the end of the block (nodenext's lib has esnext.disposable).
{
  using scoped = new coola.CoolaTracker({ appKey: "k", flushIntervalMs: 0 });
  scoped.track("scoped");
}
