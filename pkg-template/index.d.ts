// Types of every build: the same API everywhere.
export * from "./web/coola_tracker.js";
export { default } from "./web/coola_tracker.js";
