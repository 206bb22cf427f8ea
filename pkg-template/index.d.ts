// Types of the browser, bundler and Cloudflare Workers entries: the same API
// everywhere, plus `init()` / `initSync()` of the web build.
export * from "./web/coola_tracker.js";
export { default } from "./web/coola_tracker.js";
