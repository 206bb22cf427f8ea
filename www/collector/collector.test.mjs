// Tests for the local CoolaData collector. Run: node --test www/collector/
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startCollector } from './collector.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TS = 1_700_000_000_000;
const ev = (i = 0, extra = {}) => ({ event_name: 'page_view', user_id: 'u1', event_timestamp_epoch: TS + i, ...extra });
const formBody = (events) => `data=${encodeURIComponent(JSON.stringify({ events }))}`;
const FORM = 'application/x-www-form-urlencoded';

let c, staticDir, pkgDir;

async function post(pathname, body, contentType = FORM) {
  const res = await fetch(c.url + pathname, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  const text = await res.text();
  return { res, status: res.status, body: text ? JSON.parse(text) : null };
}
const track = (events, opts = {}) => post(opts.path ?? '/v3/KEY/track', opts.body ?? formBody(events), opts.type);
const getJson = async (p) => (await fetch(c.url + p)).json();

before(async () => {
  staticDir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-static-'));
  pkgDir = path.join(staticDir, 'pkg-build');
  await fs.mkdir(pkgDir);
  await fs.writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>demo</title>');
  await fs.writeFile(path.join(staticDir, 'app.mjs'), 'export const x = 1;');
  await fs.writeFile(path.join(pkgDir, 'coola_tracker_bg.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  await fs.writeFile(path.join(pkgDir, 'coola_tracker.js'), 'export default 1;');
  c = await startCollector({
    port: 0, static: staticDir, mounts: { '/pkg': pkgDir }, seed: 42,
    csp: "script-src 'self' 'wasm-unsafe-eval'",
  });
});
after(async () => {
  await c.close();
  await fs.rm(staticDir, { recursive: true, force: true });
});
beforeEach(() => {
  c.reset();
  c.control({ fail500: 0, fail429: 0, drop: 0, delayMs: 0 });
});

test('form body is accepted and stored with _received_at and _request', async () => {
  const before = Date.now();
  const r = await track([ev(0, { price: 9.5 }), ev(1)]);
  assert.equal(r.status, 200);
  assert.match(r.res.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(r.body, { status: true, results: {} });
  const events = await getJson('/events');
  assert.equal(events.length, 2);
  assert.equal(events[0].price, 9.5);
  assert.equal(events[1].event_timestamp_epoch, TS + 1);
  assert.equal(events[0]._request, 1);
  assert.equal(events[0]._app, 'KEY');
  assert.ok(events[0]._received_at >= before);
  const stats = await getJson('/stats');
  assert.equal(stats.requests, 1);
  assert.equal(stats.accepted_requests, 1);
  assert.equal(stats.events, 2);
  assert.ok(stats.bytes > 20);
  assert.equal(stats.last_request.status, 200);
});

test('form-encoded spaces (+) and text/plain (sendBeacon) bodies are accepted', async () => {
  const json = JSON.stringify({ events: [ev(0, { page_title: 'a b+c' })] });
  const body = new URLSearchParams({ data: json }).toString(); // space as '+'
  assert.equal((await track(null, { body, type: 'text/plain;charset=UTF-8' })).status, 200);
  assert.equal(c.events()[0].page_title, 'a b+c');
});

test('raw bodies are accepted: percent-encoded JSON and plain JSON', async () => {
  const json = JSON.stringify({ events: [ev(0, { q: '50% off & more' })] });
  assert.equal((await track(null, { body: encodeURIComponent(json) })).status, 200);
  assert.equal((await track(null, { body: json, type: 'application/json' })).status, 200);
  const events = c.events();
  assert.equal(events.length, 2);
  assert.equal(events[0].q, '50% off & more');
  assert.equal(events[1].q, '50% off & more');
});

test('300 events are accepted, 301 refused with 400', async () => {
  const many = (n) => Array.from({ length: n }, (_, i) => ev(i));
  const r = await track(many(301));
  assert.equal(r.status, 400);
  assert.equal(r.body.status, false);
  assert.match(r.body.error, /301/);
  assert.equal(c.stats().events, 0);
  assert.equal((await track(many(300))).status, 200);
  assert.equal(c.stats().events, 300);
});

test('nested objects, arrays, booleans and null are refused, naming index and field', async () => {
  for (const [value, word] of [[{ a: 1 }, 'nested object'], [[1], 'array'], [true, 'boolean'], [null, 'null']]) {
    const r = await track([ev(0), ev(1, { extra: value })]);
    assert.equal(r.status, 400, word);
    assert.match(r.body.error, /events\[1\]\.extra/);
    assert.match(r.body.error, new RegExp(word));
  }
  assert.equal(c.stats().events, 0);
  assert.equal(c.stats().rejected_requests, 4);
});

test('missing or empty user_id / event_name refused', async () => {
  const noUser = ev(0); delete noUser.user_id;
  let r = await track([ev(0), ev(1), noUser]);
  assert.equal(r.status, 400);
  assert.match(r.body.error, /events\[2\]\.user_id/);
  r = await track([ev(0, { event_name: '' })]);
  assert.equal(r.status, 400);
  assert.match(r.body.error, /events\[0\]\.event_name/);
  r = await track([ev(0, { user_id: 17 })]);
  assert.equal(r.status, 400);
  assert.equal(c.events().length, 0);
});

test('timestamps: 10 digits refused, 13-digit string accepted, missing refused', async () => {
  let r = await track([ev(0, { event_timestamp_epoch: 1_700_000_000 })]);
  assert.equal(r.status, 400);
  assert.match(r.body.error, /events\[0\]\.event_timestamp_epoch/);
  r = await track([ev(0, { event_timestamp_epoch: '1700000000' })]);
  assert.equal(r.status, 400);
  r = await track([ev(0, { event_timestamp_epoch: 1_700_000_000_000.5 })]);
  assert.equal(r.status, 400);
  const noTs = ev(0); delete noTs.event_timestamp_epoch;
  assert.equal((await track([noTs])).status, 400);
  r = await track([ev(0, { event_timestamp_epoch: String(TS) })]);
  assert.equal(r.status, 200);
  assert.equal(c.events()[0].event_timestamp_epoch, String(TS));
});

test('serverTimestamp option makes event_timestamp_epoch optional', async () => {
  const c2 = await startCollector({ port: 0, serverTimestamp: true });
  try {
    const noTs = ev(0); delete noTs.event_timestamp_epoch;
    const res = await fetch(`${c2.url}/v3/K/track`, { method: 'POST', headers: { 'Content-Type': FORM }, body: formBody([noTs]) });
    assert.equal(res.status, 200);
  } finally { await c2.close(); }
});

test('duplicate event_id is counted, not stored again', async () => {
  assert.equal((await track([ev(0, { event_id: 'a' }), ev(1, { event_id: 'b' })])).status, 200);
  assert.equal((await track([ev(0, { event_id: 'a' }), ev(2, { event_id: 'c' }), ev(3)])).status, 200);
  const events = c.events();
  assert.deepEqual(events.map((e) => e.event_id), ['a', 'b', 'c', undefined]);
  const stats = c.stats();
  assert.equal(stats.duplicates, 1);
  assert.equal(stats.events, 4);
  assert.equal(stats.last_request.duplicates, 1);
});

test('wrong app key is refused with 403 when appKey is set', async () => {
  const c2 = await startCollector({ port: 0, appKey: 'good' });
  try {
    const send = (key) => fetch(`${c2.url}/v3/${key}/track`, { method: 'POST', headers: { 'Content-Type': FORM }, body: formBody([ev()]) });
    const bad = await send('bad');
    assert.equal(bad.status, 403);
    assert.deepEqual(await bad.json(), { status: false, error: 'invalid app key' });
    assert.equal((await send('good')).status, 200);
    assert.equal(c2.events().length, 1);
  } finally { await c2.close(); }
});

test('CORS: every response allows any origin, OPTIONS preflight answered', async () => {
  const r = await track([ev()]);
  assert.equal(r.res.headers.get('access-control-allow-origin'), '*');
  const bad = await track([{}]);
  assert.equal(bad.res.headers.get('access-control-allow-origin'), '*');
  const pre = await fetch(`${c.url}/v3/KEY/track`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.match(pre.headers.get('access-control-allow-methods'), /GET/);
  assert.match(pre.headers.get('access-control-allow-headers'), /Content-Type/i);
  const stats = await fetch(`${c.url}/stats`);
  assert.equal(stats.headers.get('access-control-allow-origin'), '*');
});

test('failNext: scripted 503, 429 with Retry-After, drop, 200 with status false; nothing stored', async () => {
  await post('/control', JSON.stringify({
    failNext: [{ status: 503 }, { status: 429, retryAfter: 2 }, { drop: true }, { status: 200, body: { status: false } }],
  }), 'application/json');
  let r = await track([ev(0)]);
  assert.equal(r.status, 503);
  r = await track([ev(1)]);
  assert.equal(r.status, 429);
  assert.equal(r.res.headers.get('retry-after'), '2');
  assert.equal(r.res.headers.get('access-control-allow-origin'), '*');
  await assert.rejects(track([ev(2)]));
  r = await track([ev(3)]);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { status: false });
  assert.equal(c.events().length, 0);
  const stats = c.stats();
  assert.deepEqual(stats.failed_injected, { 500: 0, 429: 1, 503: 1, 200: 1, drop: 1 });
  // Queue used up: the next request goes through.
  assert.equal((await track([ev(4)])).status, 200);
  assert.equal(c.events().length, 1);
  assert.equal(c.events()[0].event_timestamp_epoch, TS + 4);
});

test('dropStored: the events are stored, then the connection is dropped unanswered', async () => {
  c.control({ failNext: [{ dropStored: true }] });
  await assert.rejects(track([ev(0, { event_id: 'kept-1' })]));
  assert.deepEqual(c.events().map((e) => e.event_id), ['kept-1']);
  assert.equal(c.stats().failed_injected.dropStored, 1);
  // The sender retries: the copy is counted as a duplicate, not stored again.
  assert.equal((await track([ev(0, { event_id: 'kept-1' })])).status, 200);
  assert.equal(c.events().length, 1);
  assert.equal(c.stats().duplicates, 1);
  c.control({ dropStored: 1 });
  await assert.rejects(track([ev(1, { event_id: 'kept-2' })]));
  assert.equal(c.events().length, 2);
  c.control({ dropStored: 0 });
});

test('random fail500=1 answers 500 and stores nothing; seeded shares are reproducible', async () => {
  c.control({ fail500: 1 });
  for (let i = 0; i < 5; i++) assert.equal((await track([ev(i)])).status, 500);
  assert.equal(c.events().length, 0);
  assert.equal(c.stats().failed_injected['500'], 5);

  const run = async (seed) => {
    const c2 = await startCollector({ port: 0, seed, fail500: 0.3, fail429: 0.3, retryAfter: 1 });
    try {
      const statuses = [];
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${c2.url}/v1/K/track`, { method: 'POST', headers: { 'Content-Type': FORM }, body: formBody([ev(i)]) });
        statuses.push(res.status);
        if (res.status === 429) assert.equal(res.headers.get('retry-after'), '1');
      }
      return statuses;
    } finally { await c2.close(); }
  };
  const a = await run(7);
  assert.deepEqual(a, await run(7));
  assert.ok(a.includes(500) && a.includes(429) && a.includes(200), a.join(','));
});

test('/v1/ path with query string works and /requests hides the app key', async () => {
  const r = await track([ev()], { path: '/v1/secret-key/track?r=123' });
  assert.equal(r.status, 200);
  assert.equal(c.events()[0]._app, 'secret-key');
  const log = await getJson('/requests');
  assert.equal(log.length, 1);
  assert.equal(log[0].path, '/v1/{appKey}/track?r=123');
  assert.equal(log[0].status, 200);
  assert.equal(log[0].events, 1);
  assert.match(log[0].content_type, /urlencoded/);
  assert.ok(log[0].bytes > 0);
  assert.equal((await fetch(`${c.url}/v3/KEY/track`)).status, 405);
});

test('/events filters by app and since', async () => {
  await track([ev(0), ev(1)], { path: '/v3/A/track' });
  await track([ev(2)], { path: '/v3/B/track' });
  assert.equal((await getJson('/events?app=A')).length, 2);
  assert.equal((await getJson('/events?app=B')).length, 1);
  assert.deepEqual((await getJson('/events?since=1')).map((e) => e.event_timestamp_epoch), [TS + 1, TS + 2]);
});

test('bodies over maxBodyBytes get 413', async () => {
  const c2 = await startCollector({ port: 0, maxBodyBytes: 1000 });
  try {
    const big = formBody(Array.from({ length: 30 }, (_, i) => ev(i, { pad: 'x'.repeat(50) })));
    const res = await fetch(`${c2.url}/v3/K/track`, { method: 'POST', headers: { 'Content-Type': FORM }, body: big });
    assert.equal(res.status, 413);
    assert.equal(c2.events().length, 0);
  } finally { await c2.close(); }
});

test('static files: index, content types, /pkg mount, CSP on HTML, traversal refused', async () => {
  let res = await fetch(`${c.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.equal(res.headers.get('content-security-policy'), "script-src 'self' 'wasm-unsafe-eval'");
  assert.match(await res.text(), /demo/);
  res = await fetch(`${c.url}/app.mjs`);
  assert.match(res.headers.get('content-type'), /^text\/javascript/);
  assert.equal(res.headers.get('content-security-policy'), null);
  res = await fetch(`${c.url}/pkg/coola_tracker_bg.wasm`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/wasm');
  assert.deepEqual([...new Uint8Array(await res.arrayBuffer())].slice(0, 4), [0, 0x61, 0x73, 0x6d]);
  res = await fetch(`${c.url}/pkg/coola_tracker.js`);
  assert.match(res.headers.get('content-type'), /^text\/javascript/);
  assert.equal((await fetch(`${c.url}/nope.js`)).status, 404);
  // fetch normalises "..", so send encoded and raw traversals.
  assert.equal((await fetch(`${c.url}/pkg/..%2f..%2fetc%2fpasswd`)).status, 403);
  assert.equal((await fetch(`${c.url}/%2e%2e%5cindex.html`)).status, 403);
  const raw = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: c.port, path: '/pkg/../../../etc/passwd' }, (r) => { r.resume(); resolve(r.statusCode); })
      .on('error', reject);
  });
  assert.equal(raw, 403);
});

test('reset clears events, stats, request log and the failNext queue', async () => {
  await track([ev(0, { event_id: 'x' })]);
  c.control({ failNext: [{ status: 500 }] });
  const r = await post('/reset', '');
  assert.equal(r.status, 200);
  assert.deepEqual(await getJson('/events'), []);
  const stats = await getJson('/stats');
  assert.equal(stats.requests, 0);
  assert.equal(stats.events, 0);
  assert.equal(stats.bytes, 0);
  assert.equal(stats.last_request, null);
  assert.deepEqual(await getJson('/requests'), []);
  assert.deepEqual(c.control().failNext, []);
  // the event_id memory is gone too
  assert.equal((await track([ev(0, { event_id: 'x' })])).status, 200);
  assert.equal(c.events().length, 1);
});

test('POST /control rejects unknown fields and bad shares', async () => {
  assert.equal((await post('/control', '{"fail5OO":1}', 'application/json')).status, 400);
  assert.equal((await post('/control', '{"fail500":2}', 'application/json')).status, 400);
  const ok = await post('/control', '{"delayMs":[5,5]}', 'application/json');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.delayMs, [5, 5]);
});

test('CLI prints the listening line and serves', async () => {
  const child = spawn(process.execPath, [path.join(HERE, 'collector.mjs'), '--port', '0', '--seed', '1', '--fail500', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.split('\n')[0]); });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const m = /^collector listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    assert.ok(m, line);
    const res = await fetch(`${m[1]}/v3/K/track`, { method: 'POST', headers: { 'Content-Type': FORM }, body: formBody([ev()]) });
    assert.equal(res.status, 500);
    assert.equal((await (await fetch(`${m[1]}/stats`)).json()).failed_injected['500'], 1);
  } finally {
    child.kill('SIGTERM');
  }
});
