// Shared by the edge tests and `make bench-edge`: the packed tarball installed
// into a temp project, Workers bundled as wrangler bundles them, and one
// Miniflare holding the collector Worker (producer and consumer of its queue)
// and a dead-letter consumer, against the local collector as CoolaData.

import { cpSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, project, startCollector, tool, waitFor, wasmModules } from "../package/helpers.mjs";

export { ROOT, startCollector, tool, waitFor };
export const APP = "edge-app";
export const FIXTURES = join(ROOT, "tests", "edge", "fixtures");
export const EXAMPLE = join(ROOT, "www", "edge");

/** Bundles `entry` (in `dir`) to `dir/dist-<name>` as wrangler does; returns the outdir. */
export async function bundle(dir, entry, name) {
  const esbuild = await tool("esbuild");
  const outdir = join(dir, `dist-${name}`);
  const out = await esbuild.build({
    entryPoints: [join(dir, entry)],
    outdir,
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    plugins: [wasmModules(outdir)],
    logLevel: "silent",
  });
  if (out.warnings.length) throw new Error(`esbuild warnings: ${JSON.stringify(out.warnings)}`);
  return outdir;
}

const RULES = [
  { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];

/** A module Worker definition for Miniflare from a bundle made by `bundle`. */
export function workerFrom(outdir, entry, extra) {
  return {
    modules: true,
    scriptPath: join(outdir, entry.replace(/\.m?js$/, ".js")),
    modulesRoot: outdir,
    modulesRules: RULES,
    compatibilityDate: "2025-06-01",
    ...extra,
  };
}

/** The temp project: the tarball installed, the fixtures and the example copied in. */
export async function edgeProject() {
  const app = await project();
  cpSync(FIXTURES, app.dir, { recursive: true });
  cpSync(EXAMPLE, join(app.dir, "example"), { recursive: true });
  // What the example's `npm run assets` does: the tracker's browser build beside the page.
  cpSync(join(app.pkgDir, "web"), join(app.dir, "example", "public", "coola-tracker"), { recursive: true });
  return app;
}

/** The package's Node build, from the temp project (to make bodies exactly as the tracker does). */
export async function nodeBuild(app) {
  const req = createRequire(join(app.dir, "index.js"));
  return import(pathToFileURL(req.resolve("coola-tracker")).href);
}

/** Workerd's stdout and stderr, kept as text (to check what the Worker logged). */
export function stdio() {
  const out = { text: "" };
  out.handle = (stdout, stderr) => {
    for (const s of [stdout, stderr]) s.on("data", (d) => (out.text += d));
  };
  return out;
}

/**
 * One Miniflare: the fixture collector (queues coola-events and nodlq-events,
 * dead letters to coola-dlq) and the dead-letter consumer. `consumer`
 * overrides the consumer settings.
 */
export async function startFixture(app, collector, { consumer = {}, logs, assets } = {}) {
  const { Miniflare } = await tool("miniflare");
  const [main, dlq] = await Promise.all([bundle(app.dir, "worker.js", "main"), bundle(app.dir, "dlq.js", "dlq")]);
  const settings = { maxBatchSize: 100, maxBatchTimeout: 0.5, maxRetries: 20, deadLetterQueue: "coola-dlq", ...consumer };
  const mf = new Miniflare({
    cf: false,
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: logs?.handle,
    workers: [
      workerFrom(main, "worker.js", {
        name: "collector",
        bindings: { COOLA_APP_KEY: APP, COOLA_ENDPOINT: `${collector.url}/v3/{appKey}/track` },
        queueProducers: {
          COOLA_EVENTS: { queueName: "coola-events" },
          COOLA_DLQ: { queueName: "coola-dlq" },
          NODLQ_EVENTS: { queueName: "nodlq-events" },
        },
        queueConsumers: { "coola-events": settings, "nodlq-events": settings },
        ...(assets ? { assets: { directory: assets, routerConfig: { has_user_worker: true } } } : {}),
      }),
      workerFrom(dlq, "dlq.js", {
        name: "dlq",
        queueConsumers: { "coola-dlq": { maxBatchSize: 100, maxBatchTimeout: 0.2 } },
      }),
    ],
  });
  const url = await mf.ready;
  const dlqWorker = await mf.getWorker("dlq");
  return {
    mf,
    url,
    post: (path, body, headers = {}) =>
      mf.dispatchFetch(`http://example.com${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
        body,
      }),
    /** The consumer's ack()/retry() calls and batches since the last call. */
    log: async () => (await mf.dispatchFetch("http://example.com/__log")).json(),
    /** Messages the dead-letter consumer received since the last call. */
    deadLetters: async () => (await dlqWorker.fetch("http://dlq/")).json(),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `pages` simulated pages at once, each a tracker of the package's Node build
 * (its own user, its own queue and retries) posting `events` events to
 * `endpoint` in requests of `batchSize`. Resolves the tracked event ids and
 * each tracker's final report.
 */
export async function simulatePages(build, endpoint, { pages, events, batchSize = 20 }) {
  // Each Node tracker listens for beforeExit until its shutdown().
  process.setMaxListeners(Math.max(process.getMaxListeners(), pages + 10));
  const trackers = Array.from(
    { length: pages },
    (_, p) =>
      new build.CoolaTracker({
        appKey: "unused-by-the-collector",
        endpoint,
        userId: `page-${p}`,
        batchSize,
        flushIntervalMs: 50,
        retryBaseMs: 50,
        retryMaxMs: 1000,
        maxRetries: 100,
      }),
  );
  const ids = [];
  await Promise.all(
    trackers.map(async (t, p) => {
      for (let i = 0; i < events; i++) {
        ids.push(t.track("simulated_event", { page: p, i, path: `/p/${i % 7}` }));
        if (i % batchSize === batchSize - 1) await sleep(5);
      }
    }),
  );
  // Until each page's queue is empty (a page keeps what was not acknowledged).
  const reports = await Promise.all(
    trackers.map(async (t) => {
      for (let i = 0; i < 200 && t.pending > 0; i++) await t.flush();
      return t.shutdown();
    }),
  );
  return { ids, reports };
}

/** Parses the subset of TOML that wrangler.toml uses: tables, arrays of tables, scalars. */
export function parseToml(text) {
  const root = {};
  let at = root;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (!line || line.startsWith("#")) continue;
    let m;
    if ((m = /^\[\[([\w.]+)\]\]$/.exec(line))) {
      const keys = m[1].split(".");
      const parent = keys.slice(0, -1).reduce((o, k) => (o[k] ??= {}), root);
      const list = (parent[keys.at(-1)] ??= []);
      list.push((at = {}));
    } else if ((m = /^\[([\w.]+)\]$/.exec(line))) {
      at = m[1].split(".").reduce((o, k) => (o[k] ??= {}), root);
    } else if ((m = /^([\w-]+)\s*=\s*(.+)$/.exec(line))) {
      at[m[1]] = JSON.parse(m[2]);
    } else {
      throw new Error(`wrangler.toml: cannot read ${JSON.stringify(raw)}`);
    }
  }
  return root;
}

/**
 * The example (www/edge) in Miniflare as wrangler would run it from its
 * wrangler.toml: its bindings, queues, consumer settings and static assets;
 * the app key as the secret, the endpoint pointed at the local collector.
 * `consumer` overrides consumer settings (e.g. a shorter batch timeout);
 * `edit` may change the parsed wrangler.toml first.
 */
export async function startExample(app, collector, { consumer = {}, edit = (t) => t } = {}) {
  const { Miniflare } = await tool("miniflare");
  const dir = join(app.dir, "example");
  const toml = edit(parseToml(readFileSync(join(dir, "wrangler.toml"), "utf8")));
  const out = await bundle(dir, toml.main, "example");
  const producers = Object.fromEntries(toml.queues.producers.map((p) => [p.binding, { queueName: p.queue }]));
  const consumers = Object.fromEntries(
    toml.queues.consumers.map((c) => [
      c.queue,
      {
        maxBatchSize: c.max_batch_size,
        maxBatchTimeout: c.max_batch_timeout,
        maxRetries: c.max_retries,
        deadLetterQueue: c.dead_letter_queue,
        ...consumer,
      },
    ]),
  );
  const mf = new Miniflare({
    cf: false,
    host: "127.0.0.1",
    port: 0,
    workers: [
      workerFrom(out, toml.main, {
        name: toml.name,
        compatibilityDate: toml.compatibility_date,
        bindings: { ...toml.vars, COOLA_APP_KEY: APP, COOLA_ENDPOINT: `${collector.url}/v3/{appKey}/track` },
        queueProducers: producers,
        queueConsumers: consumers,
        // As wrangler runs it: assets first, then the Worker for what is not an asset.
        assets: { directory: join(dir, toml.assets.directory), routerConfig: { has_user_worker: true } },
      }),
    ],
  });
  const url = await mf.ready;
  return { mf, url, toml };
}
