// Node.js, ES modules: the CommonJS build instantiates the wasm synchronously
// on load, so no init call is needed; `init()` is offered for code shared
// with browsers and resolves at once.
import m from "./coola_tracker.js";

export const { CoolaTracker, parseTimestamp, validateEvent, encodeBatch, visitorProperties } = m;
export default function init() {
  return Promise.resolve();
}
