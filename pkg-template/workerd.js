// Cloudflare Workers (workerd): the Worker bundle imports the .wasm as a
// compiled WebAssembly.Module, so nothing is fetched at run time.
import wasmModule from "./web/coola_tracker_bg.wasm";
import { initSync } from "./web/coola_tracker.js";

initSync({ module: wasmModule });

export * from "./web/coola_tracker.js";
export { default } from "./web/coola_tracker.js";
