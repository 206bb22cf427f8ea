// The README's "At the edge, at scale" example, as written: several queues,
// the page choosing one by a hash of its user_id. The ```js block after
// "Past one queue" is the Worker, bundled as wrangler bundles it and run in
// workerd through Miniflare with four queues; its last comment lines are the
// page's shard choice, run here too. Every shard delivers through its queue.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { APP, ROOT, bundle, edgeProject, nodeBuild, startCollector, tool, waitFor, workerFrom } from "./helpers.mjs";

const HEADING = "## At the edge, at scale";
const SHARDS = 4;

function sectionBlock() {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  assert.ok(text.includes(HEADING), `README.md has the section "${HEADING}"`);
  const section = text.slice(text.indexOf(HEADING));
  const from = section.indexOf("Past one queue");
  assert.ok(from > 0, "the section shows how to go past one queue");
  const m = /```js\n([\s\S]*?)```/.exec(section.slice(from));
  assert.ok(m, "a js block after 'Past one queue'");
  return m[1];
}

let app;
let collector;
let mf;
let build;
const code = sectionBlock();

before(async () => {
  [app, collector] = await Promise.all([edgeProject(), startCollector({ port: 0 })]);
  writeFileSync(join(app.dir, "sharded.js"), code);
  const out = await bundle(app.dir, "sharded.js", "sharded");
  const { Miniflare } = await tool("miniflare");
  const queues = Array.from({ length: SHARDS }, (_, i) => `coola-events-${i}`);
  mf = new Miniflare({
    cf: false,
    workers: [
      workerFrom(out, "sharded.js", {
        bindings: { COOLA_APP_KEY: APP, COOLA_ENDPOINT: `${collector.url}/v3/{appKey}/track` },
        queueProducers: Object.fromEntries(queues.map((q, i) => [`COOLA_EVENTS_${i}`, { queueName: q }])),
        queueConsumers: Object.fromEntries(queues.map((q) => [q, { maxBatchSize: 100, maxBatchTimeout: 0.2 }])),
      }),
    ],
  });
  await mf.ready;
  build = await nodeBuild(app);
});

after(async () => {
  await mf?.dispose();
  await collector?.close();
  app?.remove();
});

test("the example is about 10 lines", () => {
  const lines = code.trim().split("\n");
  assert.ok(lines.length <= 12, `${lines.length} lines`);
});

test("each user's events go to the shard its user_id hashes to, and every shard delivers", async () => {
  // The page's comment lines, as a function of userId.
  const page = code.split("\n").filter((l) => l.startsWith("//") && l.includes("shard"));
  const shardExpr = /const shard = (.+?);/.exec(page.join("\n"))[1];
  const shardOf = new Function("userId", `return ${shardExpr};`);
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  const byShard = new Map();
  for (const u of users) byShard.set(shardOf(u), [...(byShard.get(shardOf(u)) ?? []), u]);
  assert.equal(byShard.size, SHARDS, "40 users spread over the 4 shards");
  const sent = [];
  for (const [shard, list] of byShard) {
    for (const userId of list) {
      const e = { event_name: "sharded", user_id: userId, event_timestamp_epoch: Date.now(), event_id: `${userId}-e`, shard };
      const r = await mf.dispatchFetch(`http://example.com/collect/${shard}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: build.encodeBatch([e]),
      });
      assert.equal(r.status, 200, `shard ${shard}`);
      sent.push(e.event_id);
    }
  }
  assert.equal((await mf.dispatchFetch("http://example.com/collect/9", { method: "POST", body: "x" })).status, 404);
  await waitFor(() => collector.events({ app: APP }).length >= sent.length, { timeout: 20_000, what: "every shard's events" });
  const got = collector.events({ app: APP });
  assert.deepEqual(got.map((e) => e.event_id).sort(), sent.sort());
  assert.deepEqual([...new Set(got.map((e) => e.shard))].sort(), [0, 1, 2, 3]);
});
