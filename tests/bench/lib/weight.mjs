// Weight: what a page downloads. coola-tracker: the .wasm (after wasm-opt)
// plus the JS glue and its snippet bundled and minified by esbuild; peers:
// their npm package bundled the same way from an entry that imports and
// uses init + track. Raw, gzip -9 and brotli (quality 11), from node:zlib.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { kib, pkgWeb, ratio, sizes } from "./common.mjs";
import { bundleAll, installPeers } from "./bundle.mjs";

const triple = (s) => `${kib(s.raw)} / ${kib(s.gzip)} / ${kib(s.brotli)} KiB`;
const ratios = (a, b) => `${ratio(a.raw, b.raw)} / ${ratio(a.gzip, b.gzip)} / ${ratio(a.brotli, b.brotli)}`;

/** Installs the peers if needed and bundles everything; returns the bundles. */
export async function weigh(log = console.error) {
  installPeers(log);
  return bundleAll();
}

/** Table rows (figure, coola-tracker, peer, ratio) and notes for the weight part. */
export function weightRows(bundles) {
  const coola = bundles.find((b) => b.id === "coola-tracker");
  if (coola.error) throw new Error("coola-tracker did not bundle: " + coola.error);
  const rows = [
    ["**weight**, raw / gzip -9 / brotli", "", "", ""],
  ];
  const notes = [
    "Weight: coola-tracker is the .wasm after wasm-opt plus coola_tracker.js and its snippet bundled and minified by esbuild; " +
      "each peer is its npm package bundled the same way (one ES module, minified, for browsers) from an entry that imports " +
      "and uses its init + track API (tests/bench/entries/). Each file compressed on its own; sizes in KiB.",
  ];
  for (const b of bundles) {
    if (b.id === "coola-tracker") continue;
    const label = `vs ${b.label} ${b.version || ""}`.trim();
    if (b.error) {
      rows.push([label, triple(coola.weight), `skipped: ${b.error}`, "n/a"]);
      notes.push(`${b.label}: skipped (${b.error}).`);
      continue;
    }
    rows.push([label + (b.note ? ` (${b.note})` : ""), triple(coola.weight), triple(b.weight), ratios(coola.weight, b.weight)]);
  }
  return { rows, notes };
}

/** The breakdown of coola-tracker's bytes. */
export function breakdown(bundles) {
  const c = bundles.find((b) => b.id === "coola-tracker");
  const files = [];
  (function walk(dir) {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.js$/.test(name)) files.push(p);
    }
  })(join(pkgWeb, "snippets"));
  const glueRaw = sizes(readFileSync(join(pkgWeb, "coola_tracker.js")));
  const snippets = files.map((f) => sizes(readFileSync(f)));
  const snippetRaw = snippets.reduce((a, s) => ({ raw: a.raw + s.raw, gzip: a.gzip + s.gzip, brotli: a.brotli + s.brotli }), { raw: 0, gzip: 0, brotli: 0 });
  const line = (name, s) => `| ${name} | ${s.raw.toLocaleString("en")} B | ${s.gzip.toLocaleString("en")} B | ${s.brotli.toLocaleString("en")} B |`;
  return [
    "| coola-tracker, browser build | raw | gzip -9 | brotli |",
    "| --- | --- | --- | --- |",
    line("coola_tracker_bg.wasm (after wasm-opt)", c.wasm),
    line("glue + snippet, esbuild bundle (minified)", c.js),
    line("**total shipped**", c.weight),
    line("glue coola_tracker.js as built (not minified)", glueRaw),
    line(`snippet(s) under snippets/ as built (${files.length})`, snippetRaw),
  ].join("\n");
}
