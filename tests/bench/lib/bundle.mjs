// Installs the peer SDKs (once; pinned in tests/bench/package.json and
// package-lock.json) and bundles every entry in entries/ with esbuild, each
// the same way: one ES module, minified, for browsers.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BROWSER_BUNDLE, benchDir, esbuild, outDir, pkgWeb, sizes, snapshotPkg } from "./common.mjs";

/** The contenders: coola-tracker first, then the peers (name, entry file, npm package). */
export const CONTENDERS = [
  { id: "coola-tracker", label: "coola-tracker", entry: "coola-tracker.mjs" },
  { id: "snowplow", label: "@snowplow/browser-tracker", entry: "snowplow.mjs", pkg: "@snowplow/browser-tracker" },
  { id: "amplitude", label: "@amplitude/analytics-browser", entry: "amplitude.mjs", pkg: "@amplitude/analytics-browser" },
  { id: "segment", label: "@segment/analytics-next", entry: "segment.mjs", pkg: "@segment/analytics-next" },
  {
    id: "rudderstack",
    label: "@rudderstack/analytics-js",
    entry: "rudderstack.mjs",
    pkg: "@rudderstack/analytics-js",
    note: "default entry: plugins fetched from a CDN at run time, not counted",
    weightOnly: true,
  },
  {
    id: "rudderstack-bundled",
    label: "@rudderstack/analytics-js/bundled",
    entry: "rudderstack-bundled.mjs",
    pkg: "@rudderstack/analytics-js",
    note: "all plugins in the bundle; the one timed",
  },
  {
    id: "mixpanel",
    label: "mixpanel-browser",
    entry: "mixpanel.mjs",
    pkg: "mixpanel-browser",
    note: "default entry, session-replay recorder included",
    weightOnly: true,
  },
  {
    id: "mixpanel-core",
    label: "mixpanel-browser (core)",
    entry: "mixpanel-core.mjs",
    pkg: "mixpanel-browser",
    note: "`src/loaders/loader-module-core`, no recorder; the one timed",
  },
];

function version(pkg) {
  try {
    return JSON.parse(readFileSync(join(benchDir, "node_modules", pkg, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

/** npm-installs the pinned peers into tests/bench/node_modules unless done for this package.json. */
export function installPeers(log = console.error) {
  const stamp = join(benchDir, "node_modules", ".bench-installed");
  const want = createHash("sha256")
    .update(readFileSync(join(benchDir, "package.json")))
    .update(existsSync(join(benchDir, "package-lock.json")) ? readFileSync(join(benchDir, "package-lock.json")) : "")
    .digest("hex");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return { ok: true };
  const lock = existsSync(join(benchDir, "package-lock.json"));
  log(`installing the peer SDKs into tests/bench/node_modules (npm ${lock ? "ci" : "install"})...`);
  const args = [lock ? "ci" : "install", "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts"];
  try {
    execFileSync("npm", args, { cwd: benchDir, stdio: ["ignore", "inherit", "inherit"], timeout: 300_000 });
  } catch (e) {
    // One failing package must not stop the others: try them one by one.
    log(`npm ${args[0]} failed (${e.message.split("\n")[0]}); installing the peers one at a time`);
    const deps = JSON.parse(readFileSync(join(benchDir, "package.json"), "utf8")).dependencies;
    for (const [name, v] of Object.entries(deps)) {
      try {
        execFileSync("npm", ["install", "--no-save", ...args.slice(1), `${name}@${v}`], { cwd: benchDir, stdio: "inherit", timeout: 300_000 });
      } catch (e2) {
        log(`  ${name}@${v} did not install: ${e2.message.split("\n")[0]}`);
      }
    }
    return { ok: false };
  }
  writeFileSync(stamp, want);
  return { ok: true };
}

/**
 * Bundles each contender's entry into .out/<id>.js. Returns, per contender,
 * { id, label, version, file, bytes, weight, note } or { ..., error }.
 */
export async function bundleAll(ids) {
  snapshotPkg();
  const { build } = esbuild();
  const out = [];
  for (const c of CONTENDERS) {
    if (ids && !ids.includes(c.id)) continue;
    const v = c.pkg ? version(c.pkg) : JSON.parse(readFileSync(join(pkgWeb, "..", "package.json"), "utf8")).version;
    const file = join(outDir, c.id + ".js");
    const r = { ...c, version: v, file };
    if (c.pkg && !v) {
      out.push({ ...r, error: "not installed" });
      continue;
    }
    try {
      await build({
        entryPoints: [join(benchDir, "entries", c.entry)],
        outfile: file,
        ...BROWSER_BUNDLE,
        define: { "process.env.NODE_ENV": '"production"' },
      });
      const bytes = readFileSync(file);
      r.bytes = bytes;
      r.js = sizes(bytes);
      r.weight = { ...r.js };
      if (c.id === "coola-tracker") {
        const wasm = readFileSync(join(pkgWeb, "coola_tracker_bg.wasm"));
        r.wasm = sizes(wasm, false);
        r.weight = { raw: r.js.raw + r.wasm.raw, gzip: r.js.gzip + r.wasm.gzip, brotli: r.js.brotli + r.wasm.brotli };
      }
    } catch (e) {
      r.error = "esbuild: " + (e.errors?.[0]?.text || e.message).split("\n")[0];
    }
    out.push(r);
  }
  return out;
}
