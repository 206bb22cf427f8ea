#!/usr/bin/env node
// `make bench-edge`: figures for coola-tracker/edge in workerd through
// Miniflare on this machine, against the local collector as CoolaData.
// For each number of concurrent simulated pages (Node trackers of the packed
// package, PER_PAGE events each, BATCH events a request, all at once):
//   accepted/s   events the Worker answered 200 for, per second of the pages' run
//   delivered/s  events at the collector, per second from the first track() to the last arrival
//   CoolaData requests per 1,000 events, and events per CoolaData request
//   page requests per 1,000 events (what the Worker's fetch handler took)
// The consumer runs as the example's wrangler.toml sets it (max_batch_size 100),
// with max_batch_timeout 1 s instead of 5 s so that small runs end sooner.
//
//   node tests/edge/bench.mjs [--pages 1,10,50,100,200] [--per-page 50] [--batch 10]

import { parseArgs } from "node:util";
import { APP, edgeProject, nodeBuild, simulatePages, startCollector, startExample, waitFor } from "./helpers.mjs";

const { values } = parseArgs({
  options: {
    pages: { type: "string", default: "1,10,50,100,200" },
    "per-page": { type: "string", default: "50" },
    batch: { type: "string", default: "10" },
  },
});
const PAGES = values.pages.split(",").map(Number);
const PER_PAGE = Number(values["per-page"]);
const BATCH = Number(values.batch);

const app = await edgeProject();
const collector = await startCollector({ port: 0 });
const example = await startExample(app, collector, { consumer: { maxBatchTimeout: 1 } });
const build = await nodeBuild(app);
const endpoint = `${example.url.origin}/collect`;

// Count the pages' requests to the Worker (the Node build calls the global fetch).
let pageRequests = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => {
  if (String(url) === endpoint) pageRequests++;
  return realFetch(url, init);
};

const rows = [];
try {
  await simulatePages(build, endpoint, { pages: 2, events: 20, batchSize: BATCH }); // warm the isolate
  await waitFor(() => collector.events({ app: APP }).length >= 40, { timeout: 30_000 });
  for (const pages of PAGES) {
    collector.reset();
    pageRequests = 0;
    const t0 = performance.now();
    const { ids } = await simulatePages(build, endpoint, { pages, events: PER_PAGE, batchSize: BATCH });
    const accepted = performance.now() - t0;
    await waitFor(() => collector.events({ app: APP }).length >= ids.length, { timeout: 120_000, interval: 20 });
    const delivered = performance.now() - t0;
    const stats = collector.stats();
    rows.push({
      pages,
      events: ids.length,
      "accepted/s": Math.round(ids.length / (accepted / 1000)),
      "delivered/s": Math.round(ids.length / (delivered / 1000)),
      "page requests / 1k events": Math.round((pageRequests * 1000) / ids.length),
      "CoolaData requests / 1k events": ((stats.requests * 1000) / ids.length).toFixed(1),
      "events / CoolaData request": Math.round(ids.length / stats.requests),
      duplicates: stats.duplicates,
    });
  }
} finally {
  await example.mf.dispose();
  await collector.close();
  app.remove();
}

const cols = Object.keys(rows[0]);
const line = (cells) => `| ${cells.join(" | ")} |`;
console.log(`coola-tracker/edge in Miniflare: ${PER_PAGE} events per page, ${BATCH} per page request, consumer batches of up to 100 messages\n`);
console.log(line(cols));
console.log(line(cols.map(() => "---")));
for (const r of rows) console.log(line(cols.map((c) => r[c])));
