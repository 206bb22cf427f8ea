// The example of www/edge as a user deploys it: its wrangler.toml names the
// bindings the Worker (`export default createCollector()`, every default)
// reads, keeps the app key out of the file, and sets the consumer within
// Cloudflare's limits. Run from that file alone, the Worker queues and
// delivers; with a binding renamed, it does not (so this test can fail).

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { APP, EXAMPLE, edgeProject, parseToml, startCollector, startExample, waitFor } from "./helpers.mjs";

// What createCollector() reads with no options (api.md, "Edge collection").
const DEFAULTS = { queue: "COOLA_EVENTS", deadLetterQueue: "COOLA_DLQ", appKeyVar: "COOLA_APP_KEY", endpointVar: "COOLA_ENDPOINT" };

const text = readFileSync(join(EXAMPLE, "wrangler.toml"), "utf8");
const toml = parseToml(text);
let app;
let collector;

before(async () => {
  [app, collector] = await Promise.all([edgeProject(), startCollector({ port: 0 })]);
});

after(async () => {
  await collector?.close();
  app?.remove();
});

test("wrangler.toml binds what createCollector() reads, within Queues' limits, without the app key", () => {
  assert.equal(toml.main, "worker.js");
  const worker = readFileSync(join(EXAMPLE, toml.main), "utf8");
  assert.match(worker, /from "coola-tracker\/edge"/);
  assert.match(worker, /export default createCollector\(\);/, "every default, so DEFAULTS applies");

  const producers = Object.fromEntries(toml.queues.producers.map((p) => [p.binding, p.queue]));
  assert.ok(producers[DEFAULTS.queue], `a producer bound as ${DEFAULTS.queue}`);
  assert.ok(producers[DEFAULTS.deadLetterQueue], `a producer bound as ${DEFAULTS.deadLetterQueue}`);
  const [consumer, ...others] = toml.queues.consumers;
  assert.equal(others.length, 0);
  assert.equal(consumer.queue, producers[DEFAULTS.queue], "the Worker consumes the queue it produces to");
  assert.equal(consumer.dead_letter_queue, producers[DEFAULTS.deadLetterQueue], "one dead-letter queue for both kinds");
  assert.notEqual(consumer.dead_letter_queue, consumer.queue);
  assert.ok(Number.isInteger(consumer.max_batch_size) && consumer.max_batch_size >= 1 && consumer.max_batch_size <= 100);
  assert.ok(consumer.max_batch_timeout >= 0 && consumer.max_batch_timeout <= 60);
  assert.ok(Number.isInteger(consumer.max_retries) && consumer.max_retries <= 100);

  assert.ok(!(DEFAULTS.appKeyVar in (toml.vars ?? {})), "the app key is a secret, not a var");
  assert.ok(!/^\s*COOLA_APP_KEY\s*=/m.test(text), "no app key assignment anywhere in the file");
  assert.match(text, /wrangler secret put COOLA_APP_KEY/);

  assert.ok(existsSync(join(EXAMPLE, toml.assets.directory, "index.html")));
  const page = readFileSync(join(EXAMPLE, toml.assets.directory, "index.html"), "utf8");
  assert.match(page, /endpoint: "\/collect"/);
  assert.doesNotMatch(page, /appKey/);
  const pkg = JSON.parse(readFileSync(join(EXAMPLE, "package.json"), "utf8"));
  assert.ok(pkg.dependencies["coola-tracker"]);
  assert.match(toml.build.command, /npm run assets/);
  assert.match(pkg.scripts.assets, /coola-tracker\/web/);
});

const post = (mf, events) =>
  mf.dispatchFetch("http://example.com/collect", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "data=" + encodeURIComponent(JSON.stringify({ events })),
  });
const ev = (id) => ({ event_name: "bindings", user_id: "u", event_timestamp_epoch: Date.now(), event_id: id });

test("run from wrangler.toml alone, the Worker queues and delivers", async () => {
  collector.reset();
  const { mf } = await startExample(app, collector, { consumer: { maxBatchTimeout: 0.2 } });
  try {
    const r = await post(mf, [ev("from-toml")]);
    assert.equal(r.status, 200, await r.text());
    await waitFor(() => collector.events({ app: APP }).some((e) => e.event_id === "from-toml"), { timeout: 20_000 });
  } finally {
    await mf.dispose();
  }
});

test("with the producer bound under another name, the Worker answers 503 (the check above can fail)", async () => {
  const rename = (t) => ({
    ...t,
    queues: { ...t.queues, producers: t.queues.producers.map((p) => (p.binding === DEFAULTS.queue ? { ...p, binding: "EVENTS" } : p)) },
  });
  const { mf } = await startExample(app, collector, { edit: rename });
  try {
    const r = await post(mf, [ev("renamed")]);
    assert.equal(r.status, 503);
  } finally {
    await mf.dispose();
  }
});
