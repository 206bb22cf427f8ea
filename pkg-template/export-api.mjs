// The CoolaTracker class and the functions parseTimestamp, validateEvent,
// encodeBatch and visitorProperties are the snippet's (src/js/shell.js: they
// go to Rust through one raw export, src/js/tracker/ops.rs), not
// wasm-bindgen's: the glue wasm-bindgen writes does not export them. This
// adds the export to a glue module, in its own module system. Used by
// assemble.mjs for each build, and by tools that run wasm-bindgen's output
// as it is (tests/bench/profile.mjs).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The public names the snippet exports. */
export const API = ["CoolaTracker", "parseTimestamp", "validateEvent", "encodeBatch", "visitorProperties"];

/**
 * Exports API from the glue coola_tracker.js in `dir`: `export { ... } from`
 * the snippet (ES module), or `exports.X = require(...).X` (`commonjs`).
 * Fails when the glue imports the snippet from other than one path, or
 * names one of API itself.
 */
export function exportApi(dir, commonjs) {
  const file = join(dir, "coola_tracker.js");
  const src = readFileSync(file, "utf8");
  const paths = new Set([...src.matchAll(/["'`](\.\/snippets\/[^"'`]+\/src\/js\/shell\.js)["'`]/g)].map((m) => m[1]));
  if (paths.size !== 1) throw new Error(`${file}: the snippet src/js/shell.js is imported from ${paths.size} paths, not 1`);
  const [path] = paths;
  for (const name of API) {
    if (new RegExp(`\\b${name}\\b`).test(src)) throw new Error(`${file}: the glue names ${name} itself`);
  }
  const line = commonjs
    ? API.map((n) => `exports.${n} = require(${JSON.stringify(path)}).${n};\n`).join("")
    : `export { ${API.join(", ")} } from ${JSON.stringify(path)};\n`;
  writeFileSync(file, src + line);
}
