// Reorders the functions of a .wasm so that it gzips smaller.
//
//   node tools/reorder.mjs <file.wasm> [--iterations N]
//
// DEFLATE finds repeats only within a 32 KB window, and the order in which
// the linker and wasm-opt leave the functions puts alike bodies far apart.
// This tool changes nothing but that order: every body stays byte for byte
// as it was, except the indices of the functions it calls (`call`,
// `ref.func`), which follow the new order, as do the function section's
// types, the element segments, the exports and the start function.
// Imported functions keep their indices.
//
// The order is searched for with the real measure, gzip -9 of the whole
// module: a greedy chain of bodies that compress well after one another,
// then 6,000 moves of short runs of functions (by default), each kept only
// when the module gets smaller. The search is seeded, so the same input
// always gives the same output. The result must pass
// `WebAssembly.validate` and be smaller, else the file is left as it was.
// A module it cannot read whole (an opcode,
// section or segment form it does not know, a ref.func in a constant
// expression) fails the build rather than be written with an index missed.
//
// A search takes 10-30 s, so results are cached under
// target/reorder-cache/ by the SHA-256 of the input and of this file: a
// build whose wasm did not change pays nothing.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { limitsEnd, listNames, readU32, sections, u32 } from "../pkg-template/wasm-module.mjs";

/** Skips a LEB128, signed or not, at `at`. */
const skipLeb = (b, at) => readU32(b, at)[1];

/**
 * Skips a constant expression (a global's value, a segment's offset) and
 * its `end`. Only numbers and global.get: a `ref.func` there would name a
 * function that this tool does not remap, so it throws, as on anything
 * else it does not know.
 */
function skipConst(b, at) {
  for (;;) {
    const op = b[at++];
    if (op === 0x0b) return at;
    if (op === 0x41 || op === 0x42) at = skipLeb(b, at);
    else if (op === 0x43) at += 4;
    else if (op === 0x44) at += 8;
    else if (op === 0x23) at = skipLeb(b, at);
    else if (op === 0xd0) at++;
    else throw new Error(`constant expression opcode 0x${(op ?? 0).toString(16)}`);
  }
}

/** Checks the global and table sections hold no expression it would not remap. */
function checkConsts(b, secs) {
  const globals = secs.find((s) => s.id === 6);
  if (globals) {
    let [n, at] = readU32(b, globals.start);
    for (let i = 0; i < n; i++) {
      const t = b[at];
      if (t !== 0x7f && t !== 0x7e && t !== 0x7d && t !== 0x7c && t !== 0x70 && t !== 0x6f) {
        throw new Error(`global type 0x${t.toString(16)}`);
      }
      at = skipConst(b, at + 2);
    }
    if (at !== globals.end) throw new Error("the global section does not end where it says");
  }
  const tables = secs.find((s) => s.id === 4);
  if (tables) {
    let [n, at] = readU32(b, tables.start);
    for (let i = 0; i < n; i++) {
      if (b[at] === 0x40) throw new Error("a table with an initial expression");
      at = limitsEnd(b, at + 1);
    }
    if (at !== tables.end) throw new Error("the table section does not end where it says");
  }
}

/**
 * Splits a function body into the bytes between the function indices it
 * names: { parts: [Buffer...], targets: [index...] }, parts.length ==
 * targets.length + 1. Throws on an opcode it does not know, so an input it
 * cannot read is left alone rather than miswritten.
 */
function splitBody(b, start, end) {
  const parts = [];
  const targets = [];
  let from = start;
  let [groups, at] = readU32(b, start);
  for (let g = 0; g < groups; g++) {
    at = skipLeb(b, at); // count
    at++; // valtype
  }
  const cut = (idxStart, idxEnd, idx) => {
    parts.push(b.subarray(from, idxStart));
    targets.push(idx);
    from = idxEnd;
  };
  while (at < end) {
    const op = b[at++];
    if (op === 0x02 || op === 0x03 || op === 0x04) {
      // blocktype: 0x40, a value type, or a type index (s33)
      const t = b[at];
      if (t === 0x63 || t === 0x64) throw new Error("a reference-typed block (GC)");
      if (t === 0x40 || (t >= 0x6f && t <= 0x7f)) at++;
      else at = skipLeb(b, at);
    } else if (op === 0x0c || op === 0x0d) {
      at = skipLeb(b, at);
    } else if (op === 0x0e) {
      let n;
      [n, at] = readU32(b, at);
      for (let i = 0; i <= n; i++) at = skipLeb(b, at);
    } else if (op === 0x10 || op === 0xd2) {
      const s = at;
      const [idx, e] = readU32(b, at);
      cut(s, e, idx);
      at = e;
    } else if (op === 0x11) {
      at = skipLeb(b, skipLeb(b, at));
    } else if (op >= 0x20 && op <= 0x26) {
      at = skipLeb(b, at);
    } else if (op >= 0x28 && op <= 0x3e) {
      at = skipLeb(b, skipLeb(b, at));
    } else if (op === 0x3f || op === 0x40) {
      at++;
    } else if (op === 0x41 || op === 0x42) {
      at = skipLeb(b, at);
    } else if (op === 0x43) {
      at += 4;
    } else if (op === 0x44) {
      at += 8;
    } else if (op === 0xd0) {
      at++;
    } else if (op === 0x1c) {
      let n;
      [n, at] = readU32(b, at);
      at += n;
    } else if (op === 0xfc) {
      let sub;
      [sub, at] = readU32(b, at);
      if (sub <= 7) {
        // saturating truncations: no immediate
      } else if (sub === 8 || sub === 12 || sub === 14) {
        at = skipLeb(b, skipLeb(b, at));
      } else if (sub === 10) {
        at += 2;
      } else if (sub === 9 || sub === 11 || sub === 13 || (sub >= 15 && sub <= 17)) {
        at = skipLeb(b, at);
      } else {
        throw new Error(`opcode 0xfc ${sub}`);
      }
    } else if (
      op === 0x00 ||
      op === 0x01 ||
      op === 0x05 ||
      op === 0x0b ||
      op === 0x0f ||
      op === 0x1a ||
      op === 0x1b ||
      op === 0xd1 ||
      (op >= 0x45 && op <= 0xc4)
    ) {
      // no immediate
    } else {
      throw new Error(`opcode 0x${op.toString(16)}`);
    }
  }
  if (at !== end) throw new Error("a body ran past its end");
  parts.push(b.subarray(from, end));
  return { parts, targets };
}

/** Reads what the tool rewrites, or throws. */
export function read(b) {
  const secs = sections(b);
  const code = secs.find((s) => s.id === 10);
  if (!code) throw new Error("no code section");
  const imported = listNames(b).imports.filter((i) => i.kind === 0).length;
  checkConsts(b, secs);
  let [n, at] = readU32(b, code.start);
  const bodies = [];
  for (let i = 0; i < n; i++) {
    const [size, start] = readU32(b, at);
    bodies.push(splitBody(b, start, start + size));
    at = start + size;
  }
  if (at !== code.end) throw new Error("the code section does not end where it says");
  // The function section: each defined function's type, in the same order.
  const types = [];
  const fsec = secs.find((s) => s.id === 3);
  let [count, p] = readU32(b, fsec.start);
  for (let i = 0; i < count; i++) {
    let t;
    [t, p] = readU32(b, p);
    types.push(t);
  }
  if (count !== n) throw new Error("function and code sections disagree");
  return { secs, imported, bodies, types };
}

/** Rewrites a function index through `map` (defined functions only). */
function remap(idx, imported, map) {
  return idx < imported ? idx : imported + map[idx - imported];
}

/** The export section with function indices remapped. */
function exportSection(b, s, imported, map) {
  const out = [];
  let [n, at] = readU32(b, s.start);
  out.push(...u32(n));
  for (let i = 0; i < n; i++) {
    const [len, p] = readU32(b, at);
    const kind = b[p + len];
    out.push(...b.subarray(at, p + len + 1));
    let idx;
    [idx, at] = readU32(b, p + len + 1);
    out.push(...u32(kind === 0 ? remap(idx, imported, map) : idx));
  }
  if (at !== s.end) throw new Error("the export section does not end where it says");
  return Buffer.from(out);
}

/** The element section (active segments of function indices only). */
function elementSection(b, s, imported, map) {
  const out = [];
  let [n, at] = readU32(b, s.start);
  out.push(...u32(n));
  for (let i = 0; i < n; i++) {
    let flags;
    [flags, at] = readU32(b, at);
    // Only the form the linker writes (active, table 0, function indices):
    // every other form throws rather than be copied unmapped.
    if (flags !== 0) throw new Error(`element segment flags ${flags}`);
    out.push(...u32(flags));
    const exprStart = at;
    at = skipConst(b, at);
    out.push(...b.subarray(exprStart, at));
    let count;
    [count, at] = readU32(b, at);
    out.push(...u32(count));
    for (let k = 0; k < count; k++) {
      let idx;
      [idx, at] = readU32(b, at);
      out.push(...u32(remap(idx, imported, map)));
    }
  }
  if (at !== s.end) throw new Error("the element section does not end where it says");
  return Buffer.from(out);
}

/** The module with the defined functions in `order` (old positions). */
export function write(b, m, order) {
  const map = new Array(order.length);
  order.forEach((old, pos) => (map[old] = pos));
  const chunks = [b.subarray(0, 8)];
  const section = (id, payload) => chunks.push(Buffer.from([id, ...u32(payload.length)]), payload);
  for (const s of m.secs) {
    if (s.id === 10) {
      const parts = [Buffer.from(u32(order.length))];
      for (const old of order) {
        const { parts: p, targets } = m.bodies[old];
        const body = [];
        for (let i = 0; i < targets.length; i++) {
          body.push(p[i], Buffer.from(u32(remap(targets[i], m.imported, map))));
        }
        body.push(p[targets.length]);
        const bytes = Buffer.concat(body);
        parts.push(Buffer.from(u32(bytes.length)), bytes);
      }
      section(10, Buffer.concat(parts));
    } else if (s.id === 3) {
      section(3, Buffer.from([...u32(order.length), ...order.flatMap((old) => [...u32(m.types[old])])]));
    } else if (s.id === 7) {
      section(7, exportSection(b, s, m.imported, map));
    } else if (s.id === 9) {
      section(9, elementSection(b, s, m.imported, map));
    } else if (s.id === 8) {
      const [idx] = readU32(b, s.start);
      section(8, Buffer.from(u32(remap(idx, m.imported, map))));
    } else if ([1, 2, 4, 5, 6, 11, 12].includes(s.id)) {
      // types, imports, tables, memory, globals (checked by checkConsts),
      // data, data count: no function index in them
      section(s.id, b.subarray(s.start, s.end));
    } else {
      // custom sections (names) would name the old order; any other id is
      // one this tool does not know
      throw new Error(`section ${s.id}: not one this tool rewrites (strip custom sections first)`);
    }
  }
  return Buffer.concat(chunks);
}

const gz = (buf) => gzipSync(buf, { level: 9 }).length;

/** A small seeded generator (mulberry32), so a search is repeatable. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A greedy chain: start with the largest body, then each time take the
 * body that adds the least to the compressed size of the last few KB, per
 * byte it weighs alone.
 */
function greedy(m) {
  const flat = m.bodies.map((x) => Buffer.concat(x.parts));
  const alone = flat.map(gz);
  const n = flat.length;
  const left = new Set(flat.keys());
  let first = 0;
  for (const k of left) if (flat[k].length > flat[first].length) first = k;
  const order = [first];
  left.delete(first);
  let ctx = flat[first];
  const WINDOW = 4096;
  while (left.size) {
    const tail = ctx.subarray(Math.max(0, ctx.length - WINDOW));
    const base = gz(tail);
    let best = -1;
    let bestCost = Infinity;
    for (const k of left) {
      const cost = (gz(Buffer.concat([tail, flat[k]])) - base) / (alone[k] + 1);
      if (cost < bestCost) [best, bestCost] = [k, cost];
    }
    order.push(best);
    left.delete(best);
    ctx = Buffer.concat([tail, flat[best]]);
  }
  if (order.length !== n) throw new Error("greedy lost a function");
  return order;
}

/** Moves of short runs of functions, each kept only if the module shrinks. */
function improve(b, m, order, iterations) {
  const next = random(0x5eed);
  let best = gz(write(b, m, order));
  const runs = [1, 1, 1, 2, 3, 5, 8];
  for (let t = 0; t < iterations; t++) {
    const o = order.slice();
    const i = Math.floor(next() * o.length);
    const run = o.splice(i, runs[Math.floor(next() * runs.length)]);
    const j = Math.floor(next() * (o.length + 1));
    o.splice(j, 0, ...run);
    const size = gz(write(b, m, o));
    if (size <= best) [best, order] = [size, o];
  }
  return order;
}

/** The reordered module, or null when no order found is smaller. */
export function reorder(input, iterations) {
  const m = read(input);
  const identity = m.bodies.map((_, i) => i);
  // The writer must give the input back unchanged in its own order.
  if (!write(input, m, identity).equals(input)) throw new Error("the module does not round-trip");
  const order = improve(input, m, greedy(m), iterations);
  const out = write(input, m, order);
  if (!WebAssembly.validate(out)) throw new Error("the reordered module does not validate");
  return gz(out) < gz(input) ? out : null;
}

function main() {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith("--"));
  const it = args.indexOf("--iterations");
  const iterations = it >= 0 ? Number(args[it + 1]) : 6000;
  if (!file) {
    console.error("usage: node tools/reorder.mjs <file.wasm> [--iterations N]");
    process.exit(2);
  }
  const input = readFileSync(file);
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const cacheDir = join(root, "target", "reorder-cache");
  // The key covers the tool's own text: a fix here is never answered from
  // a cache the old code wrote.
  const self = readFileSync(fileURLToPath(import.meta.url));
  const key = createHash("sha256").update(`${iterations} `).update(self).update(input).digest("hex");
  const cached = join(cacheDir, `${key}.wasm`);
  if (existsSync(cached)) {
    const out = readFileSync(cached);
    if (WebAssembly.validate(out)) {
      writeFileSync(file, out);
      console.log(`${file}: functions reordered (cached)`);
      return;
    }
  }
  const started = Date.now();
  const out = reorder(input, iterations);
  mkdirSync(cacheDir, { recursive: true });
  // Written whole, then renamed: an interrupted build leaves no half file.
  const keep = (bytes) => {
    writeFileSync(`${cached}.tmp`, bytes);
    renameSync(`${cached}.tmp`, cached);
  };
  if (out) {
    keep(out);
    writeFileSync(file, out);
    const s = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`${file}: functions reordered, gzip -9 ${gz(input)} -> ${gz(out)} B (${s} s)`);
  } else {
    keep(input);
    console.log(`${file}: no smaller order found, left as it was`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
