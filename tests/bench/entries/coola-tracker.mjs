// coola-tracker as a page ships it: the web glue (+ its snippet) bundled, the
// .wasm beside it; taken from the snapshot of pkg/ that the bench makes
// first (pkg/ may be rebuilt meanwhile). `make` instantiates (once per module
// instance) and builds a tracker; `wasm` is the module's bytes (or a
// WebAssembly.Module), so no fetch is involved.
import init, { CoolaTracker, encodeBatch } from "../.out/pkg/web/coola_tracker.js";

export async function make(options = {}, wasm) {
  const exports = await init(wasm ? { module_or_path: wasm } : undefined);
  const t = new CoolaTracker({ appKey: "benchAppKey", flushIntervalMs: 0, batchSize: 300, ...options });
  return {
    track: (name, props) => t.track(name, props),
    close: () => t.free(),
    tracker: t,
    memory: exports.memory,
  };
}
export { encodeBatch };
