// Types of the Node.js ES module entry: the API of every build, and an
// `init()` that resolves at once (the wasm is instantiated on load).
export * from "./coola_tracker.js";

/** Nothing to do in Node (the wasm is instantiated when the module loads); offered for code shared with browsers. */
export default function init(): Promise<void>;
