// Paths, tools and small helpers shared by size.mjs and bench.mjs.
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const root = join(benchDir, "..", "..");
/** Bundles and pages that the bench writes (gitignored). */
export const outDir = join(benchDir, ".out");
/**
 * The package measured: a snapshot of pkg/ taken when the bench starts
 * (`snapshotPkg`), so that a concurrent `make build` cannot mix two builds.
 */
export const pkgDir = join(outDir, "pkg");
export const pkgWeb = join(pkgDir, "web");
export const pkgNode = join(pkgDir, "node");

export function snapshotPkg() {
  const src = join(root, "pkg");
  if (!existsSync(join(src, "web", "coola_tracker_bg.wasm"))) throw new Error("pkg/ is not built: run `make build`");
  rmSync(pkgDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  cpSync(src, pkgDir, { recursive: true });
}

const toolsRequire = createRequire(join(root, "tools", "package.json"));
/** esbuild and playwright-core from tools/node_modules (installed by `make tools`). */
export const esbuild = () => toolsRequire("esbuild");
export const playwright = () => toolsRequire("playwright-core");
/**
 * How every browser bundle the bench weighs or loads is built (esbuild
 * options): one ES module, minified, for browsers. coola-tracker and the
 * peers are bundled the same way.
 */
export const BROWSER_BUNDLE = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "none",
  logLevel: "silent",
};

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Raw, gzip -9 and brotli (quality 11) sizes of some bytes. */
export function sizes(buf, text = true) {
  return {
    raw: buf.length,
    gzip: gzipSync(buf, { level: 9 }).length,
    brotli: brotliCompressSync(buf, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
        [constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
      },
    }).length,
  };
}

export const kib = (n) => (n / 1024).toFixed(1);
/** ns as ns, µs or ms with 3 significant digits. */
export function fmtNs(n) {
  if (n == null || !Number.isFinite(n)) return "n/a";
  const [v, u] = n < 1e3 ? [n, "ns"] : n < 1e6 ? [n / 1e3, "µs"] : [n / 1e6, "ms"];
  return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + " " + u;
}
export const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) + " ms";
export function ratio(a, b) {
  if (a == null || b == null || !b || !Number.isFinite(a) || !Number.isFinite(b)) return "n/a";
  const r = a / b;
  return (r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toFixed(3)) + "×";
}

/** A markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c ?? "").replace(/\|/g, "\\|")));
  const w = header.map((_, i) => Math.max(3, ...all.map((r) => r[i].length)));
  const line = (r) => "| " + r.map((c, i) => c.padEnd(w[i])).join(" | ") + " |";
  return [line(all[0]), "| " + w.map((n) => "-".repeat(n)).join(" | ") + " |", ...all.slice(1).map(line)].join("\n");
}
