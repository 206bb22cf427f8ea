// `using` frees a tracker at the end of its block, as `free()` does: it must
// type-check with `tsc --strict` where the lib declares Symbol.dispose
// (TypeScript 5.2+ with "esnext.disposable"; tests/package/types.test.mjs
// checks this file in the modes whose lib has it, web and Node types). On a
// plain "lib": ["es2022", "dom"] the lib has no Disposable for `using`; the
// package's own .d.ts files still check there (mode strict-lib).
import { CoolaTracker, type FlushReport } from "coola-tracker";

{
  using tracker = new CoolaTracker({ appKey: "YOUR_APP_KEY", flushIntervalMs: 0 });
  const id: string = tracker.track("signup", { plan: "pro" });
  console.log(id);
}

const disposable: Disposable = new CoolaTracker({ appKey: "YOUR_APP_KEY" });
disposable[Symbol.dispose]();
const tracker = new CoolaTracker({ appKey: "YOUR_APP_KEY" });
const report: Promise<FlushReport> = tracker.shutdown();
tracker[Symbol.dispose]();
console.log(report);
