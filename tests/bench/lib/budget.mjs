// The weight budget of the browser build (issue "Under 16 KB"): the total
// gzip -9 of what a page downloads, its parts, and what the wasm is made of
// by module, each next to its budget.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BROWSER_BUNDLE, esbuild, outDir, pkgWeb, sizes, snapshotPkg } from "./common.mjs";
import { byModule } from "./wasm-parts.mjs";

/** gzip -9 bytes a page may download: the .wasm plus the minified JS bundle. */
export const TOTAL_BUDGET = 16_384;
/** gzip -9 budgets of the parts (wasm; glue and snippet each minified alone). */
export const PART_BUDGETS = { wasm: 12_000, glue: 3_000, snippet: 1_384 };
/**
 * Raw-byte budgets of the wasm's modules (in the module as wasm-opt leaves
 * it; raw, because gzip sizes of parts of one file do not add up). They add
 * up to a ~27 KB module, which gzips to about 12 KB.
 */
export const MODULE_BUDGETS = {
  "export shims": 5_500,
  "data (strings, tables)": 3_500,
  "js::tracker": 3_000,
  "module structure (types, imports, exports, tables)": 2_800,
  "core::timestamp": 2_500,
  "Rust core / alloc": 2_500,
  "core::tracker": 2_000,
  "core::event": 1_500,
  "wasm-bindgen / js-sys runtime": 1_000,
  "core::entries": 600,
  "core::config": 600,
  "core::json": 400,
  "core::num": 300,
  "core::store": 300,
  "core::retry": 300,
  "core::error": 200,
  "core::form": 200,
  "core::batch": 150,
  slim: 400,
};
/** Modules without a budget of their own share this one. */
const REST_BUDGET = 1_000;

async function minified(entry) {
  const { build } = esbuild();
  const r = await build({
    entryPoints: [entry],
    ...BROWSER_BUNDLE,
    write: false,
    // The snippet alone: its imports stay imports.
    external: ["*"],
  });
  return Buffer.from(r.outputFiles[0].contents);
}

/** The parts: wasm as shipped; glue and snippet each minified alone. */
export async function parts() {
  snapshotPkg();
  const wasm = sizes(readFileSync(join(pkgWeb, "coola_tracker_bg.wasm")), false);
  const glue = sizes(await minified(join(pkgWeb, "coola_tracker.js")));
  const { readdirSync, statSync } = await import("node:fs");
  const snippets = [];
  (function walk(dir) {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".js")) snippets.push(p);
    }
  })(join(pkgWeb, "snippets"));
  let snippet = { raw: 0, gzip: 0, brotli: 0 };
  for (const f of snippets) {
    const s = sizes(await minified(f));
    snippet = { raw: snippet.raw + s.raw, gzip: snippet.gzip + s.gzip, brotli: snippet.brotli + s.brotli };
  }
  return { wasm, glue, snippet };
}

const n = (x) => x.toLocaleString("en");
const verdict = (v, budget) => (v <= budget ? "within" : `over by ${n(v - budget)}`);

/**
 * The budget tables as markdown. `bundle` is the weight of the esbuild
 * bundle of glue + snippet (what the bench counts, from bundle.mjs);
 * `named` the path of the same wasm built with names (wasm-bindgen
 * --keep-debug, wasm-opt -g), for the breakdown by module.
 */
export async function budgetTables(bundle, named) {
  const p = await parts();
  const total = p.wasm.gzip + bundle.gzip;
  const lines = [
    `| weight, gzip -9 | bytes | budget | |`,
    `| --- | ---: | ---: | --- |`,
    `| **total: wasm + JS bundle** | **${n(total)}** | ${n(TOTAL_BUDGET)} | ${verdict(total, TOTAL_BUDGET)} |`,
    `| wasm (after wasm-opt) | ${n(p.wasm.gzip)} | ${n(PART_BUDGETS.wasm)} | ${verdict(p.wasm.gzip, PART_BUDGETS.wasm)} |`,
    `| JS bundle (glue + snippet, esbuild, minified) | ${n(bundle.gzip)} | ${n(PART_BUDGETS.glue + PART_BUDGETS.snippet)} | ${verdict(bundle.gzip, PART_BUDGETS.glue + PART_BUDGETS.snippet)} |`,
    `| of which glue coola_tracker.js (minified alone) | ${n(p.glue.gzip)} | ${n(PART_BUDGETS.glue)} | ${verdict(p.glue.gzip, PART_BUDGETS.glue)} |`,
    `| of which snippet src/js/shell.js (minified alone) | ${n(p.snippet.gzip)} | ${n(PART_BUDGETS.snippet)} | ${verdict(p.snippet.gzip, PART_BUDGETS.snippet)} |`,
  ];
  let mods = [];
  if (named) {
    const bytes = readFileSync(named);
    const { rows, top, total: wasmRaw } = byModule(bytes);
    mods.push(`| wasm by module (raw bytes, names build) | bytes | budget | |`, `| --- | ---: | ---: | --- |`);
    let rest = 0;
    const restNames = [];
    for (const [k, v] of rows) {
      if (k in MODULE_BUDGETS) mods.push(`| ${k} | ${n(v)} | ${n(MODULE_BUDGETS[k])} | ${verdict(v, MODULE_BUDGETS[k])} |`);
      else {
        rest += v;
        restNames.push(k);
      }
    }
    mods.push(`| the rest (${restNames.join(", ")}) | ${n(rest)} | ${n(REST_BUDGET)} | ${verdict(rest, REST_BUDGET)} |`);
    const budgetRaw = Object.values(MODULE_BUDGETS).reduce((a, b) => a + b, REST_BUDGET);
    mods.push(`| **all modules** | **${n(wasmRaw)}** | ${n(budgetRaw)} | ${verdict(wasmRaw, budgetRaw)} |`);
    mods.push("", "| largest wasm functions (raw bytes) | bytes |", "| --- | ---: |");
    for (const f of top.slice(0, 12)) mods.push(`| \`${f.name.replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]{16}\]/g, "").replace(/\|/g, "\\|").slice(0, 110)}\` | ${n(f.size)} |`);
  } else {
    mods.push("(no names build given: `make size` makes one for the breakdown by module)");
  }
  const md = lines.join("\n") + "\n\n" + mods.join("\n");
  writeFileSync(join(outDir, "budget.md"), md + "\n");
  return md;
}
