#!/usr/bin/env node
// Local CoolaData collector: a stand-in for https://api.cooladata.com used by
// the coola-tracker demo page and tests. Node built-ins only, no dependencies.
//
// It speaks CoolaData's tracking contract (see /work/shared/reference):
//   POST /v3/{appKey}/track  and  POST /v1/{appKey}/track   (query string allowed, e.g. ?r=123)
//   body: `data=<percent-encoded JSON>` (application/x-www-form-urlencoded or
//   text/plain, as navigator.sendBeacon sends a string), or the JSON itself,
//   raw (`{...}`) or percent-encoded (`%7B...`, read with decodeURIComponent).
//   JSON: {"events":[{event_name, user_id, event_timestamp_epoch, ...flat props}]}
//   200 {"status":true,"results":{}} | 400 {"status":false,"error":"events[2].user_id: ..."}
//   403 wrong app key (when one is configured) | 413 body over maxBodyBytes | 415 odd content type
//
// Inspection and control (JSON; every response carries Access-Control-Allow-Origin: *):
//   GET  /events[?app=KEY][&since=N]  stored events, in arrival order, each with
//                                     _received_at (ms), _request (request number), _app
//   GET  /stats                       counters and the last track request's summary
//   GET  /requests                    the last 1000 track requests' summaries
//   GET  /control                     current failure injection settings
//   POST /control {"fail500":0.3,"fail429":0.1,"retryAfter":1,"drop":0.05,"delayMs":[0,200],
//                  "failNext":[{"status":503},{"status":429,"retryAfter":2},{"drop":true},
//                              {"status":200,"body":{"status":false}},{}],"seed":7}
//        failNext is a queue of scripted answers, one per track request, used before the
//        random shares; `{}` (or {"delayMs":n}) lets one request through normally.
//        Injected failures never store events; a drop destroys the socket unanswered.
//        "dropStored" (share, or {"dropStored":true} in failNext) stores the events, then
//        destroys the socket unanswered: accepted, but the sender never hears it.
//   POST /reset                       clears events, counters, request log and the failNext
//                                     queue, and re-seeds the PRNG (random shares are kept)
//   anything else: static files from --static / --static-mount, else 404.
//
// CLI:
//   node www/collector/collector.mjs --port 8787 --host 127.0.0.1 --static www \
//        [--static-mount /pkg=pkg]... [--app-key KEY] [--server-timestamp] [--time-window]
//        [--max-body-bytes 1048576] [--fail500 0.3] [--fail429 0.1] [--retry-after 1]
//        [--drop 0.05] [--drop-stored 0.05] [--delay-ms 0-200] [--seed N] [--csp "script-src 'self' 'wasm-unsafe-eval'"]
//        [--header "Name: value"]... [--verbose]
//   prints `collector listening on http://127.0.0.1:PORT` (port 0 picks a free port).
//
// Module: import { startCollector } from './collector.mjs';
//   const c = await startCollector({ port: 0, appKey, static: dir, mounts: {'/pkg': dir2}, ... });
//   c.url, c.port, c.events(filter?), c.stats(), c.reset(), c.control(obj), await c.close()

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const MAX_EVENTS = 300;
const MAX_EVENT_BYTES = 100 * 1024;
const REQUEST_LOG_SIZE = 1000;
const TRACK_PATH = /^\/v([13])\/([^/?]+)\/track\/?$/;
const ACCEPTED_TYPES = new Set(['application/x-www-form-urlencoded', 'text/plain', 'application/json']);
const RESERVED = new Set(['internal_user_id', 'internal_session_id', 'user_alias', 'session_clean_path',
  'session_duration', 'session_end_time_ts', 'session_events_counter', 'session_full_category_path',
  'session_full_clean_category_path', 'session_full_clean_path', 'session_full_path',
  'session_funnel_path', 'session_serial_event_counter', 'uid', 'sid']);
const MIME = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json',
  '.wasm': 'application/wasm', '.txt': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.ico': 'image/x-icon', '.webmanifest': 'application/manifest+json',
};

/** Small, fast, seedable PRNG: returns a function giving floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
const bad = (message) => new HttpError(400, message);

/** Body (Buffer) + Content-Type -> parsed JSON payload. Throws HttpError 400/415. */
export function decodePayload(body, contentType) {
  const type = String(contentType || '').split(';')[0].trim().toLowerCase();
  if (type && !ACCEPTED_TYPES.has(type)) throw new HttpError(415, `unsupported content-type "${type}"`);
  const text = body.toString('utf8').trimStart();
  const decode = (s) => {
    try { return decodeURIComponent(s); } catch { throw bad('body is not valid percent-encoding'); }
  };
  let json;
  if (text.startsWith('{')) {
    json = text;
    try { return JSON.parse(json); } catch { json = decode(text); } // JSON partly percent-encoded?
  } else if (/^%7b/i.test(text)) {
    json = decode(text);
  } else {
    const params = new URLSearchParams(text);
    if (!params.has('data')) throw bad('body has no "data=" field and is not JSON');
    json = params.get('data');
  }
  try { return JSON.parse(json); } catch (e) { throw bad(`payload is not valid JSON: ${e.message}`); }
}

/** Checks a payload as CoolaData would; returns { events, warnings }. Throws HttpError 400. */
export function validateBatch(payload, { maxEvents = MAX_EVENTS, serverTimestamp = false,
  timeWindow = false, now = Date.now() } = {}) {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload) || !Array.isArray(payload.events)) {
    throw bad('payload must be a JSON object {"events":[...]}');
  }
  const { events } = payload;
  if (events.length === 0) throw bad('events array is empty');
  if (events.length > maxEvents) throw bad(`too many events: ${events.length} (at most ${maxEvents} a request)`);
  const warnings = [];
  events.forEach((ev, i) => {
    const at = `events[${i}]`;
    if (!ev || typeof ev !== 'object' || Array.isArray(ev)) throw bad(`${at}: an event must be a flat JSON object`);
    for (const [key, v] of Object.entries(ev)) {
      if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) continue;
      const kind = v === null ? 'null' : Array.isArray(v) ? 'an array'
        : typeof v === 'object' ? 'a nested object' : `a ${typeof v}`;
      throw bad(`${at}.${key}: value is ${kind}; only strings and numbers are supported (flat JSON)`);
    }
    for (const field of ['event_name', 'user_id']) {
      if (!(field in ev)) throw bad(`${at}.${field}: mandatory field is missing`);
      if (typeof ev[field] !== 'string' || ev[field] === '') throw bad(`${at}.${field}: must be a non-empty string`);
    }
    if (!serverTimestamp) {
      const t = ev.event_timestamp_epoch;
      if (t === undefined) throw bad(`${at}.event_timestamp_epoch: mandatory field is missing`);
      const ok = typeof t === 'number' ? Number.isInteger(t) && t >= 1e12 && t < 1e13
        : /^\d{13}$/.test(t);
      if (!ok) throw bad(`${at}.event_timestamp_epoch: must be epoch milliseconds (13 digits), got ${JSON.stringify(t)}`);
      if (timeWindow) {
        const ms = Number(t);
        if (ms < now - 30 * 86400e3) throw bad(`${at}.event_timestamp_epoch: more than 30 days in the past`);
        if (ms > now + 3600e3) throw bad(`${at}.event_timestamp_epoch: more than 1 hour in the future`);
      }
    }
    if (Buffer.byteLength(JSON.stringify(ev)) > MAX_EVENT_BYTES) throw bad(`${at}: event exceeds 100KB`);
    for (const key of Object.keys(ev)) if (RESERVED.has(key)) warnings.push(`${at}.${key}: reserved property name`);
  });
  return { events, warnings };
}

/** Reads a request body up to `limit` bytes; beyond that it keeps counting but drops the data. */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let bytes = 0;
    req.on('data', (chunk) => {
      bytes += chunk.length;
      if (bytes <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), bytes, tooLarge: bytes > limit }));
    req.on('error', reject);
  });
}

function parseDelay(v) {
  if (v == null || v === '' || v === false) return [0, 0];
  if (Array.isArray(v)) return [Number(v[0]) || 0, Number(v[v.length - 1]) || 0];
  if (typeof v === 'string' && v.includes('-')) { const [a, b] = v.split('-').map(Number); return [a || 0, b || 0]; }
  return [Number(v) || 0, Number(v) || 0];
}

/** Mounts from `{'/pkg': dir}`, `[{prefix, dir}]` or `['/pkg=dir']`, longest prefix first. */
function normalizeMounts(staticDir, mounts) {
  let list = [];
  if (Array.isArray(mounts)) {
    list = mounts.map((m) => {
      if (typeof m !== 'string') return m;
      if (!m.includes('=')) throw new Error(`--static-mount wants /prefix=DIR, got ${m}`);
      return { prefix: m.slice(0, m.indexOf('=')), dir: m.slice(m.indexOf('=') + 1) };
    });
  } else if (mounts) {
    list = Object.entries(mounts).map(([prefix, dir]) => ({ prefix, dir }));
  }
  if (staticDir) list.push({ prefix: '/', dir: staticDir });
  return list.map(({ prefix, dir }) => {
    if (!prefix.startsWith('/') || !dir) throw new Error(`bad static mount ${prefix}=${dir}`);
    return { prefix: prefix.length > 1 ? prefix.replace(/\/+$/, '') : '/', dir: path.resolve(dir) };
  }).sort((a, b) => b.prefix.length - a.prefix.length);
}

export async function startCollector(options = {}) {
  const opts = {
    port: 0, host: '127.0.0.1', appKey: null, serverTimestamp: false, timeWindow: false,
    maxBodyBytes: 1024 * 1024, maxEvents: MAX_EVENTS, headers: {}, htmlHeaders: {}, csp: null,
    log: null, ...options,
  };
  const mounts = normalizeMounts(opts.static, opts.mounts ?? opts.staticMounts);
  const htmlHeaders = { ...opts.htmlHeaders, ...(opts.csp ? { 'Content-Security-Policy': opts.csp } : {}) };

  // Failure injection settings and the PRNG behind the random shares.
  const ctl = { fail500: 0, fail429: 0, drop: 0, dropStored: 0, retryAfter: 1, delayMs: [0, 0], failNext: [], seed: 0 };
  let rand;
  function control(obj = {}) {
    const known = ['fail500', 'fail429', 'drop', 'dropStored', 'retryAfter', 'delayMs', 'failNext', 'seed'];
    const unknown = Object.keys(obj).filter((k) => !known.includes(k));
    if (unknown.length) throw bad(`unknown control field(s): ${unknown.join(', ')}`);
    for (const k of ['fail500', 'fail429', 'drop', 'dropStored']) {
      if (obj[k] === undefined) continue;
      const p = Number(obj[k]);
      if (!(p >= 0 && p <= 1)) throw bad(`${k} must be a share between 0 and 1`);
      ctl[k] = p;
    }
    if (obj.retryAfter !== undefined) ctl.retryAfter = obj.retryAfter === null ? null : Number(obj.retryAfter);
    if (obj.delayMs !== undefined) ctl.delayMs = parseDelay(obj.delayMs);
    if (obj.failNext !== undefined) {
      if (!Array.isArray(obj.failNext)) throw bad('failNext must be an array');
      ctl.failNext = obj.failNext.map((e) => ({ ...e }));
    }
    if (obj.seed !== undefined) { ctl.seed = Number(obj.seed) >>> 0; rand = mulberry32(ctl.seed); }
    return { ...ctl, failNext: ctl.failNext.map((e) => ({ ...e })) };
  }

  // Stored data and counters.
  let state;
  function reset() {
    state = {
      seq: 0, events: [], seen: new Set(), log: [], lastRequest: null,
      requests: 0, accepted: 0, rejected: 0, duplicates: 0, bytes: 0,
      injected: { 500: 0, 429: 0, drop: 0 },
    };
    ctl.failNext = [];
    rand = mulberry32(ctl.seed);
  }
  reset();
  control({
    fail500: opts.fail500 ?? 0, fail429: opts.fail429 ?? 0, drop: opts.drop ?? 0, dropStored: opts.dropStored ?? 0,
    retryAfter: opts.retryAfter ?? 1, delayMs: opts.delayMs ?? 0, failNext: opts.failNext ?? [],
    seed: opts.seed ?? randomInt(2 ** 31),
  });

  const events = ({ app, since } = {}) => state.events.slice(Number(since) || 0)
    .filter((e) => app == null || e._app === app).map((e) => ({ ...e }));
  const stats = () => ({
    requests: state.requests, accepted_requests: state.accepted, rejected_requests: state.rejected,
    events: state.events.length, duplicates: state.duplicates, bytes: state.bytes,
    failed_injected: { ...state.injected }, last_request: state.lastRequest && { ...state.lastRequest },
  });

  /** Next injected failure: the failNext queue first, then one draw against the random shares. */
  function nextInjection() {
    if (ctl.failNext.length) return ctl.failNext.shift();
    const r = rand();
    if (r < ctl.fail500) return { status: 500 };
    if (r < ctl.fail500 + ctl.fail429) return { status: 429 };
    if (r < ctl.fail500 + ctl.fail429 + ctl.drop) return { drop: true };
    if (r < ctl.fail500 + ctl.fail429 + ctl.drop + ctl.dropStored) return { dropStored: true };
    return null;
  }

  const timers = new Set();
  const sleep = (ms) => new Promise((resolve) => {
    const t = setTimeout(() => { timers.delete(t); resolve(); }, ms);
    timers.add(t);
  });

  function send(res, status, body, headers = {}) {
    if (res.destroyed || res.headersSent) return;
    const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json', 'Cache-Control': 'no-store',
      ...(status === 204 ? {} : { 'Content-Length': Buffer.byteLength(data) }), ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : data);
  }

  async function handleTrack(req, res, url, version, app) {
    const seq = ++state.seq;
    state.requests++;
    const summary = {
      seq, time: Date.now(), method: req.method,
      path: url.replace(`/v${version}/${app}/`, `/v${version}/{appKey}/`),
      app: decodeURIComponent(app), content_type: req.headers['content-type'] ?? null,
      bytes: 0, events: null, stored: 0, duplicates: 0, status: 0, outcome: 'pending',
    };
    const finish = (status, outcome, extra = {}) => {
      Object.assign(summary, { status, outcome, ms: Date.now() - summary.time }, extra);
      state.log.push(summary);
      if (state.log.length > REQUEST_LOG_SIZE) state.log.shift();
      state.lastRequest = summary;
      opts.log?.(`#${seq} ${summary.path} ${summary.bytes}B events=${summary.events} -> ${status || 'drop'} ${outcome}${extra.error ? `: ${extra.error}` : ''}`);
    };
    const { body, bytes, tooLarge } = await readBody(req, opts.maxBodyBytes);
    summary.bytes = bytes;
    state.bytes += bytes;

    const inj = nextInjection();
    const [lo, hi] = ctl.delayMs;
    const delay = (hi > lo ? lo + Math.floor(rand() * (hi - lo + 1)) : lo) + (Number(inj?.delayMs) || 0);
    if (delay > 0) await sleep(delay);

    if (inj?.drop) {
      state.injected.drop++;
      finish(0, 'dropped');
      req.socket.destroy();
      return;
    }
    if (inj?.status) {
      const key = String(inj.status);
      state.injected[key] = (state.injected[key] ?? 0) + 1;
      const headers = { ...inj.headers };
      const retryAfter = inj.retryAfter ?? (inj.status === 429 || inj.status === 503 ? ctl.retryAfter : null);
      if (retryAfter != null) headers['Retry-After'] = String(retryAfter);
      const out = inj.body ?? (inj.status === 200 ? { status: true, results: {} }
        : { status: false, error: `injected ${inj.status}` });
      finish(inj.status, 'injected');
      send(res, inj.status, out, headers);
      return;
    }

    const reject = (status, error) => {
      state.rejected++;
      finish(status, 'rejected', { error });
      send(res, status, { status: false, error });
    };
    if (tooLarge) return reject(413, `body of ${bytes} bytes exceeds ${opts.maxBodyBytes}`);
    if (opts.appKey != null && summary.app !== opts.appKey) return reject(403, 'invalid app key');
    let batch;
    try {
      const payload = decodePayload(body, req.headers['content-type']);
      summary.events = Array.isArray(payload?.events) ? payload.events.length : null;
      batch = validateBatch(payload, opts);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      return reject(e.status, e.message);
    }
    const receivedAt = Date.now();
    let stored = 0, dups = 0;
    for (const ev of batch.events) {
      if (ev.event_id !== undefined && ev.event_id !== '') {
        const id = `${summary.app}\n${ev.event_id}`;
        if (state.seen.has(id)) { dups++; continue; }
        state.seen.add(id);
      }
      state.events.push({ ...ev, _received_at: receivedAt, _request: seq, _app: summary.app });
      stored++;
    }
    state.accepted++;
    state.duplicates += dups;
    if (inj?.dropStored) {
      state.injected.dropStored = (state.injected.dropStored ?? 0) + 1;
      finish(0, 'stored, then dropped', { stored, duplicates: dups });
      req.socket.destroy();
      return;
    }
    finish(200, 'accepted', { stored, duplicates: dups, ...(batch.warnings.length ? { warnings: batch.warnings } : {}) });
    send(res, 200, { status: true, results: {} });
  }

  async function serveStatic(req, res, pathname) {
    const mount = mounts.find((m) => m.prefix === '/' || pathname === m.prefix || pathname.startsWith(`${m.prefix}/`));
    if (!mount) return false;
    const rel = mount.prefix === '/' ? pathname : pathname.slice(mount.prefix.length);
    let file = path.resolve(mount.dir, `.${rel || '/'}`);
    if (file !== mount.dir && !file.startsWith(mount.dir + path.sep)) {
      send(res, 403, { status: false, error: 'path traversal refused' });
      return true;
    }
    let st = await fs.stat(file).catch(() => null);
    if (st?.isDirectory()) {
      if (!pathname.endsWith('/')) {
        const q = req.url.indexOf('?');
        send(res, 301, '', { Location: `${pathname}/${q >= 0 ? req.url.slice(q) : ''}` });
        return true;
      }
      file = path.join(file, 'index.html');
      st = await fs.stat(file).catch(() => null);
    }
    if (!st?.isFile()) return false;
    const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const extra = typeof opts.headers === 'function' ? opts.headers(file, type) : opts.headers;
    send(res, 200, await fs.readFile(file), {
      'Content-Type': type, ...extra, ...(type.startsWith('text/html') ? htmlHeaders : {}),
    });
    return true;
  }

  async function handle(req, res) {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
    const [rawPath, query = ''] = req.url.split(/\?(.*)/s);
    let pathname;
    try { pathname = decodeURIComponent(rawPath); } catch { return send(res, 400, { status: false, error: 'bad URL encoding' }); }
    if (pathname.includes('\0') || pathname.split(/[\\/]/).includes('..')) {
      req.resume();
      return send(res, 403, { status: false, error: 'path traversal refused' });
    }
    const params = new URLSearchParams(query);
    const { method } = req;
    if (method === 'OPTIONS') {
      return send(res, 204, '', {
        'Access-Control-Allow-Methods': 'POST, GET, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type',
        'Access-Control-Max-Age': '600', 'Content-Type': 'text/plain',
      });
    }
    const track = TRACK_PATH.exec(rawPath);
    if (track) {
      if (method !== 'POST') return send(res, 405, { status: false, error: 'use POST' }, { Allow: 'POST, OPTIONS' });
      return handleTrack(req, res, req.url, track[1], track[2]);
    }
    const route = `${method} ${pathname}`;
    if (route === 'GET /events') return send(res, 200, events({ app: params.get('app') ?? undefined, since: params.get('since') }));
    if (route === 'GET /stats') return send(res, 200, stats());
    if (route === 'GET /requests') return send(res, 200, state.log);
    if (route === 'GET /control') return send(res, 200, control());
    if (route === 'POST /reset') { req.resume(); reset(); return send(res, 200, { status: true }); }
    if (route === 'POST /control') {
      const { body } = await readBody(req, opts.maxBodyBytes);
      let obj;
      try { obj = JSON.parse(body.toString('utf8') || '{}'); } catch { return send(res, 400, { status: false, error: 'control body must be JSON' }); }
      try { return send(res, 200, control(obj)); } catch (e) { return send(res, e.status ?? 400, { status: false, error: e.message }); }
    }
    if ((method === 'GET' || method === 'HEAD') && await serveStatic(req, res, pathname)) return;
    req.resume();
    send(res, 404, { status: false, error: `not found: ${method} ${pathname}` });
  }

  const sockets = new Set();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      opts.log?.(`error: ${e.stack}`);
      send(res, 500, { status: false, error: `collector error: ${e.message}` });
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address();
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostForUrl}:${port}`, port, server,
    events, stats, reset,
    control: (obj) => control(obj),
    requests: () => state.log.map((r) => ({ ...r })),
    close: () => new Promise((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

// ---------------------------------------------------------------- CLI
async function main(argv) {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8787' }, host: { type: 'string', default: '127.0.0.1' },
      static: { type: 'string' }, 'static-mount': { type: 'string', multiple: true, default: [] },
      'app-key': { type: 'string' }, 'server-timestamp': { type: 'boolean' }, 'time-window': { type: 'boolean' },
      'max-body-bytes': { type: 'string' }, fail500: { type: 'string' }, fail429: { type: 'string' },
      'retry-after': { type: 'string' }, drop: { type: 'string' }, 'drop-stored': { type: 'string' }, 'delay-ms': { type: 'string' },
      seed: { type: 'string' }, csp: { type: 'string' }, header: { type: 'string', multiple: true, default: [] },
      verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    const text = await fs.readFile(fileURLToPath(import.meta.url), 'utf8');
    console.log(text.split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
    return;
  }
  const num = (s) => (s === undefined ? undefined : Number(s));
  const headers = Object.fromEntries(v.header.map((h) => {
    const i = h.indexOf(':');
    if (i < 1) throw new Error(`--header wants "Name: value", got ${h}`);
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()];
  }));
  const c = await startCollector({
    port: Number(v.port), host: v.host, static: v.static, mounts: v['static-mount'],
    appKey: v['app-key'] ?? null, serverTimestamp: !!v['server-timestamp'], timeWindow: !!v['time-window'],
    maxBodyBytes: num(v['max-body-bytes']) ?? 1024 * 1024,
    fail500: num(v.fail500), fail429: num(v.fail429), retryAfter: num(v['retry-after']), drop: num(v.drop), dropStored: num(v['drop-stored']),
    delayMs: v['delay-ms'], seed: num(v.seed), csp: v.csp ?? null, headers,
    log: v.verbose ? (line) => console.error(line) : null,
  });
  console.log(`collector listening on ${c.url}`);
  const stop = () => c.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => { console.error(`collector: ${e.message}`); process.exit(1); });
}
