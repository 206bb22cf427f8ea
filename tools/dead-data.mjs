// Dead runtime data out of an optimised .wasm (`make build`, after wasm-opt,
// through tools/wasm-names.mjs's imports step).
//
//   node tools/dead-data.mjs FILE.wasm BEFORE-WASM-OPT.wasm [--dry-run]
//
// The linker lays out the read-only data of everything it links, and
// wasm-opt removes functions but never bytes of a data segment. So text
// that only removed code read stays in the module: wasm-bindgen's Closure
// shims' "closure invoked recursively or after being dropped" (js-sys's
// imports that take closures are linked for their descriptors), js-sys's
// JSPI poll loop (a `#[no_mangle]` export, dropped before wasm-opt) with its
// source path and RefCell panic texts, and core::fmt's 00..99 digit table
// (its only reader, `<u32 as Display>::fmt`, is a body of `unreachable` in
// the table). And, when the panic handler is trivial (src/slim.rs: a panic
// traps at once), the standard library's panic messages, its source paths
// and the Locations naming them: code still hands them to `panic_fmt`, which
// stores them in its frame and traps, and nothing ever reads them. That is
// checked on the module itself (panicSinks below): a handler that formats or
// reports leaves them all in. Each of the texts listed below, and each panic
// Location that points at one, is zeroed when nothing live can reach it:
//   - no `i32.const` or memory `offset=` in any function (read from
//     binaryen's wasm-dis) falls in it or in the MARGIN bytes before it (a
//     struct or template that starts just before the text), but for the
//     constants of a panic sink and those passed straight to one;
//   - no 4 bytes of data, at any alignment, outside the texts found dead,
//     hold an address inside it (read over the memory image, so a word that
//     starts in the zeros between two segments counts too);
//   - and the module as it was before wasm-opt (`before`, the second
//     argument: the exports step's copy, whose data is at the same
//     addresses; the match and a byte either side must read the same there)
//     shows that the match is a whole object, not part of a longer text that
//     something live reads from its start (a pattern could occur inside a
//     message): something pointed at its first byte (an i32.const or either
//     half of an i64.const, a memory offset, or 4 bytes of data), and each
//     of its ends is bounded: by a zero or the space between segments, by
//     another listed text itself shown whole, by a (pointer, length) pair
//     (two adjacent i32.const operands, the halves of an i64.const, or two
//     data words) that ends there (its start) or spans the match exactly, or
//     (its end) by something pointing there. This is evidence, not proof: a
//     removed reader that took a live text apart in slices at the pattern's
//     edges would pass it; what it rules out is a pattern found inside a
//     text that nothing but the text's own start pointed into.
//     A match without that evidence is kept, and counted (`kept`).
// The panic sinks themselves become `unreachable` alone (their stores only
// wrote a frame that nothing reads before the trap).
// Then the zeros are cut out of the segments (memory starts as zeros; the
// rest of the module, but the sinks' bodies, is copied byte for byte: a
// wasm-opt round trip would write its code some 100 B larger). A text whose
// readers are still there stays, so a new wasm-bindgen or Rust can only make
// this do less.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readU32, sections, u32 } from "../pkg-template/wasm-module.mjs";

/** The texts looked for (latin1 patterns over the data). */
export const TEXTS = [
  /closure invoked recursively or after being dropped/g,
  /\/[ -~]*?\/js-sys-[0-9.]+\/src\/futures\/jspi\.rs/g,
  /RefCell already mutably borrowed/g,
  /RefCell already borrowed/g,
  new RegExp(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0")).join(""), "g"),
  // The standard library's panic texts and source paths (the Locations
  // pointing at those are found below).
  /\/rustc\/[0-9a-f]{40}\/library\/[ -~]*?\.rs/g,
  /Tried to shrink to a larger capacity/g,
  /capacity overflow/g,
  /\x15memory allocation of [^]{0,4} bytes failed/g, // 21: its first piece's length
];

/** Code constants this far below a text count as reaching it (a format
 * template's header byte; a 16-byte Location ending where a text starts is
 * not it). */
const MARGIN = 8;

/** The active data segments of memory 0: { addr, start, end } (file offsets of the bytes). */
export function dataSegments(b) {
  const sec = sections(b).find((s) => s.id === 11);
  if (!sec) return [];
  let [n, p] = readU32(b, sec.start);
  const out = [];
  for (let i = 0; i < n; i++) {
    const flags = b[p++];
    if (flags !== 0) throw new Error(`dead-data: data segment ${i} is not active in memory 0 (flags ${flags})`);
    if (b[p++] !== 0x41) throw new Error(`dead-data: data segment ${i}: offset is not an i32.const`);
    let addr;
    [addr, p] = readI32(b, p);
    if (b[p++] !== 0x0b) throw new Error(`dead-data: data segment ${i}: offset is not a constant alone`);
    let size;
    [size, p] = readU32(b, p);
    out.push({ addr, start: p, end: p + size });
    p += size;
  }
  return out;
}

/** A signed LEB128 (an i32.const). */
function readI32(b, pos) {
  let v = 0;
  let shift = 0;
  let byte;
  do {
    byte = b[pos++];
    v |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  if (shift < 32 && byte & 0x40) v |= -1 << shift;
  return [v, pos];
}

/** The instructions a panic sink may hold (besides `call`s to sinks). */
const SINK_OPS = new Set([
  "local.get", "local.set", "local.tee", "global.get", "global.set", "i32.const", "i64.const", "i32.add",
  "i32.sub", "i32.or", "i32.shl", "i64.or", "i64.shl", "i64.extend_i32_u", "i32.store", "i32.store8",
  "i32.store16", "i64.store", "i64.store8", "i64.store16", "i64.store32", "unreachable", "nop",
]);

/**
 * The functions of `wat` (binaryen's wasm-dis, one node a line, one space of
 * indent a level): { name, nodes: [{ depth, op, args, parent }] }.
 */
export function parseFunctions(wat) {
  const funcs = [];
  let f = null;
  const open = [];
  for (const line of wat.split("\n")) {
    const depth = line.length - line.trimStart().length;
    const t = line.trimStart();
    if (depth === 1) {
      const m = /^\(func (\$\S+)/.exec(t);
      f = m ? { name: m[1], nodes: [] } : null;
      if (f) funcs.push(f);
      open.length = 0;
      continue;
    }
    if (!f || !t.startsWith("(") || t.startsWith("(local ")) continue;
    const m = /^\(([\w.]+)(?: ([^()]*))?/.exec(t);
    if (!m) continue;
    open.length = depth - 2;
    const node = { depth, op: m[1], args: (m[2] ?? "").trim(), parent: open[depth - 3] ?? null };
    open[depth - 2] = node;
    f.nodes.push(node);
  }
  return funcs;
}

/**
 * The panic sinks of the module: functions that store their arguments and
 * constants into a frame below the stack pointer and trap, and read nothing.
 * This is what `core::panicking::panic_fmt` and friends compile to when the
 * `#[panic_handler]` is `unreachable` (src/slim.rs): the message, its
 * arguments and the Location are handed to a handler that never looks at
 * them. A function is one when:
 *   - it holds only SINK_OPS and calls to other sinks (no load, no branch,
 *     no import: nothing can read memory or leave through JS);
 *   - its last instruction is `unreachable` or a call to a sink (it never
 *     returns);
 *   - every store's address is a local only ever set to
 *     `global.get $SP - const` (a frame below the stack pointer `$SP`, the
 *     module's first global), and every `global.set` sets `$SP` to such a
 *     local: no pointer ends up where later code would read it.
 * A handler that formats or reports (loads, an import, a branch) leaves no
 * sink, and then every text stays.
 */
export function panicSinks(funcs, sp) {
  const frameValue = (n, nodes) => {
    const kids = nodes.filter((k) => k.parent === n);
    return n.op === "i32.sub" && kids.length === 2 && kids[0].op === "global.get" && kids[0].args === sp && kids[1].op === "i32.const";
  };
  const shapeOk = (f) => {
    const kids = (n) => f.nodes.filter((k) => k.parent === n);
    const top = f.nodes.filter((n) => n.parent === null);
    const last = top[top.length - 1];
    if (!last || (last.op !== "unreachable" && last.op !== "call")) return false;
    const frames = new Set();
    const sets = f.nodes.filter((n) => n.op === "local.set" || n.op === "local.tee");
    for (const n of sets) {
      const [v] = kids(n);
      if (v && (frameValue(v, f.nodes) || ((v.op === "local.tee" || v.op === "local.set") && v.args === n.args))) frames.add(n.args);
    }
    for (const n of sets) {
      const [v] = kids(n);
      const ok = v && (frameValue(v, f.nodes) || (v.op === "local.tee" && v.args === n.args));
      if (!ok) frames.delete(n.args);
    }
    for (const n of f.nodes) {
      if (n.op !== "call" && !SINK_OPS.has(n.op)) return false;
      if (n.op === "global.get" && n.args !== sp) return false;
      if (n.op === "global.set") {
        const [v] = kids(n);
        if (n.args !== sp || !v || v.op !== "local.tee" || !frames.has(v.args)) return false;
      }
      if (/\.store/.test(n.op)) {
        const [addr] = kids(n);
        if (!addr || addr.op !== "local.get" || !frames.has(addr.args)) return false;
      }
    }
    return true;
  };
  const sinks = new Set(funcs.filter(shapeOk).map((f) => f.name));
  const byName = new Map(funcs.map((f) => [f.name, f]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of sinks) {
      const callsOut = byName.get(name).nodes.some((n) => n.op === "call" && !sinks.has(n.args.split(" ")[0]));
      if (callsOut) {
        sinks.delete(name);
        changed = true;
      }
    }
  }
  return sinks;
}

/**
 * Every constant (both halves of an i64) and memory offset of the module
 * (from binaryen's wasm-dis: its functions, globals and element segments)
 * that something may read, and how many were left out as read by nothing:
 * those inside a panic sink, and those handed straight to one as a call's
 * argument (see panicSinks).
 */
export function codeNumbers(file) {
  const wasmDis = join(dirname(fileURLToPath(import.meta.url)), "node_modules", ".bin", "wasm-dis");
  const wat = execFileSync(wasmDis, [file], { maxBuffer: 1 << 28, encoding: "utf8" });
  const sp = /^ \(global (\$\S+) \(mut i32\)/m.exec(wat)?.[1];
  const funcs = parseFunctions(wat);
  const sinks = sp ? panicSinks(funcs, sp) : new Set();
  const nums = new Set();
  // An i64.const may be two addresses stored at once: both halves count.
  const add = (op, v) => {
    if (op !== "i64.const") return nums.add(Number(v) >>> 0);
    const x = BigInt.asUintN(64, BigInt(v));
    nums.add(Number(x & 0xffffffffn)).add(Number(x >> 32n));
  };
  // Outside the functions (globals, element segments), every constant counts.
  let inFunc = false;
  for (const line of wat.split("\n")) {
    if (/^ \(/.test(line)) inFunc = line.startsWith(" (func ");
    if (inFunc || line.startsWith(" (data ")) continue;
    for (const m of line.matchAll(/(i32\.const|i64\.const) (-?\d+)|offset=(\d+)/g)) add(m[1] ?? "i32.const", m[2] ?? m[3]);
  }
  let panicOnly = 0;
  for (const f of funcs) {
    const inSink = sinks.has(f.name);
    for (const n of f.nodes) {
      const constant = /^i(32|64)\.const$/.test(n.op);
      const m = constant ? /^(-?\d+)$/.exec(n.args) : /(?:^| )offset=(\d+)/.exec(n.args);
      if (!m) continue;
      // (A load handed to a sink reads memory itself: its offset counts.)
      const toSink = constant && n.parent?.op === "call" && sinks.has(n.parent.args.split(" ")[0]);
      if (inSink || toSink) panicOnly++;
      else add(n.op, m[1]);
    }
  }
  // wasm-dis names a module's own functions $0, $1... by their place in the
  // code section when the module has no names: only then are sinks stubbed.
  const numbered = funcs.every((f, i) => f.name === `$${i}`);
  const stubs = numbered ? [...sinks].map((n) => Number(n.slice(1))) : [];
  return Object.assign([...nums], { sinks: sinks.size, panicOnly, stubs });
}

/**
 * The ranges of addresses [from, to) of the listed texts (and the Locations
 * pointing at them) that nothing live reaches, of the optimised module `b`
 * with its code's `numbers` (codeNumbers); `shown` is what the module
 * before wasm-opt shows of the texts' extents (extents(); null: nothing is
 * shown, nothing zeroed). The result's `kept` counts the matches left in
 * for want of that evidence.
 */
export function deadRanges(b, numbers, shown = null) {
  const segs = dataSegments(b);
  const found = [];
  for (const s of segs) {
    const text = b.subarray(s.start, s.end).toString("latin1");
    for (const re of TEXTS) {
      for (const m of text.matchAll(re)) found.push({ from: s.addr + m.index, to: s.addr + m.index + m[0].length });
    }
  }
  // Only whole objects (see the header): `shown` is what the module before
  // wasm-opt shows (extents()); without it nothing is shown.
  // A neighbour bounds a match only once it is shown whole itself: to a
  // fixed point.
  const whole = new Set();
  for (let changed = shown !== null; changed; ) {
    changed = false;
    for (const c of found) {
      if (!whole.has(c) && isWhole(c, [...whole], shown, b)) {
        whole.add(c);
        changed = true;
      }
    }
  }
  const cands = found.filter((c) => whole.has(c));
  const kept = found.length - cands.length;
  // Panic Locations ({ file: &str, line, col }: 16 bytes) that point at a text
  // (the last one of a segment may end in the zeros left out of it).
  const texts = [...cands];
  for (const s of segs) {
    for (let o = (4 - (s.addr % 4)) % 4; o + 8 <= s.end - s.start; o += 4) {
      const ptr = b.readUInt32LE(s.start + o);
      const len = b.readUInt32LE(s.start + o + 4);
      if (texts.some((t) => t.from === ptr && t.to - t.from === len)) cands.push({ from: s.addr + o, to: s.addr + o + 16 });
    }
  }
  const inRange = (v, c, margin) => v >= c.from - margin && v < c.to;
  for (const c of cands) c.dead = !numbers.some((v) => inRange(v, c, MARGIN));
  // Data words outside the dead ones that point into a candidate make it live;
  // repeated until nothing changes (a Location made live keeps its text).
  // Read over the memory image the segments make, zeros between them (and 3
  // around them) included: wasm-opt splits segments at runs of zeros, so a
  // word may start in a gap and end in a segment.
  if (!segs.length) return Object.assign([], { kept });
  const lo = Math.min(...segs.map((s) => s.addr)) - 3;
  const hi = Math.max(...segs.map((s) => s.addr + s.end - s.start)) + 3;
  if (hi - lo > 1 << 26) throw new Error("dead-data: the data segments span more than 64 MiB");
  const image = Buffer.alloc(hi - lo);
  for (const s of segs) b.copy(image, s.addr - lo, s.start, s.end);
  for (let changed = true; changed; ) {
    changed = false;
    for (let o = 0; o + 4 <= image.length; o++) {
      const at = lo + o;
      if (cands.some((c) => c.dead && at + 4 > c.from && at < c.to)) continue;
      const v = image.readUInt32LE(o);
      for (const c of cands) {
        if (c.dead && inRange(v, c, 0)) {
          c.dead = false;
          changed = true;
        }
      }
    }
  }
  return Object.assign(
    cands.filter((c) => c.dead).map(({ from, to }) => ({ from, to })),
    { kept },
  );
}

/** The byte at address `a` of module `b` (0 in the space between segments). */
function byteAt(b, segs, a) {
  for (const s of segs) if (a >= s.addr && a < s.addr + (s.end - s.start)) return b[s.start + (a - s.addr)];
  return 0;
}

/**
 * What the module `file` (before wasm-opt) shows of its data's objects:
 * every address something points at (`starts`: constants and memory offsets
 * of the code, globals and element segments, and every 4 bytes of data at
 * any alignment), and every (pointer, length) pair (`pairs`, as
 * "pointer:length", and `ends`, pointer + length): the halves of an
 * i64.const (pointer low, length high), two adjacent constants
 * of one instruction's operands, or two adjacent data words (a `&str`, a
 * Location's file). Also the module's bytes and segments, to check that
 * the data is the same as in the optimised module.
 */
export function extents(file) {
  const wasmDis = join(dirname(fileURLToPath(import.meta.url)), "node_modules", ".bin", "wasm-dis");
  const wat = execFileSync(wasmDis, [file], { maxBuffer: 1 << 28, encoding: "utf8" });
  const starts = new Set();
  const pairs = new Set();
  const ends = new Set();
  const pair = (p, l) => {
    if (l <= 0 || l >= 1 << 20) return;
    pairs.add(`${p}:${l}`);
    ends.add(p + l);
  };
  for (const line of wat.split("\n")) {
    if (line.startsWith(" (data ")) continue;
    for (const m of line.matchAll(/i32\.const (-?\d+)|offset=(\d+)|i64\.const (-?\d+)/g)) {
      if (m[3] === undefined) {
        starts.add(Number(m[1] ?? m[2]) >>> 0);
        continue;
      }
      // A `&str` stored at once: pointer in the low half, length in the high.
      const x = BigInt.asUintN(64, BigInt(m[3]));
      const [lo, hi] = [Number(x & 0xffffffffn), Number(x >> 32n)];
      starts.add(lo).add(hi);
      pair(lo, hi);
    }
  }
  for (const f of parseFunctions(wat)) {
    const kids = new Map();
    for (const n of f.nodes) {
      if (!kids.has(n.parent)) kids.set(n.parent, []);
      kids.get(n.parent).push(n);
    }
    for (const ks of kids.values()) {
      for (let i = 0; i + 1 < ks.length; i++) {
        if (ks[i].op === "i32.const" && ks[i + 1].op === "i32.const") pair(Number(ks[i].args) >>> 0, Number(ks[i + 1].args));
      }
    }
  }
  const b = readFileSync(file);
  const segs = dataSegments(b);
  for (const s of segs) {
    for (let o = 0; o + 4 <= s.end - s.start; o++) {
      const p = b.readUInt32LE(s.start + o);
      starts.add(p);
      if (o + 8 <= s.end - s.start) pair(p, b.readUInt32LE(s.start + o + 4));
    }
  }
  return { starts, pairs, ends, b, segs };
}

/**
 * Whether the module before wasm-opt shows the match `c` (in the optimised
 * module `b`) to be a whole object: the same bytes there (one byte either
 * side too), something pointing at its start, and both ends bounded (see
 * the header), `whole` being the matches shown whole so far.
 */
function isWhole(c, whole, shown, b) {
  const segs = dataSegments(b);
  for (let a = c.from - 1; a <= c.to; a++) if (byteAt(b, segs, a) !== byteAt(shown.b, shown.segs, a)) return false;
  const zero = (a) => byteAt(b, segs, a) === 0;
  const start = shown.starts.has(c.from);
  const left = zero(c.from - 1) || whole.some((o) => o.to === c.from) || shown.ends.has(c.from);
  const right =
    shown.pairs.has(`${c.from}:${c.to - c.from}`) || zero(c.to) || whole.some((o) => o.from === c.to) || shown.starts.has(c.to);
  return start && left && right;
}

/** A signed LEB128 of `n` (an i32.const). */
function i32(n) {
  const out = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return Buffer.from([...out, byte]);
    out.push(byte | 0x80);
  }
}

/** Zero runs longer than this split a segment (a segment's header is about 7 bytes). */
const SPLIT = 8;

/**
 * The module with the data section written again: every segment's runs of
 * more than SPLIT zero bytes left out (memory starts as zeros), the data
 * count section set to the new count; every other section byte for byte.
 */
export function packZeros(b) {
  const secs = sections(b);
  const pieces = [];
  for (const s of dataSegments(b)) {
    let from = s.start;
    for (let p = s.start; p <= s.end; ) {
      let q = p;
      while (q < s.end && b[q] === 0) q++;
      if (q === s.end || q - p > SPLIT) {
        if (p > from) pieces.push({ addr: s.addr + (from - s.start), bytes: b.subarray(from, p) });
        from = q;
        if (q === s.end) break;
      }
      p = q === p ? p + 1 : q;
    }
  }
  const data = Buffer.concat([
    u32(pieces.length),
    ...pieces.flatMap((x) => [Buffer.from([0, 0x41]), i32(x.addr), Buffer.from([0x0b]), u32(x.bytes.length), x.bytes]),
  ]);
  const out = [b.subarray(0, 8)];
  for (const sec of secs) {
    const header = b.subarray(sec.start - 1 - u32(sec.end - sec.start).length, sec.start);
    if (sec.id === 11) out.push(Buffer.from([11]), u32(data.length), data);
    else if (sec.id === 12) {
      const count = u32(pieces.length);
      out.push(Buffer.from([12]), u32(count.length), count);
    } else out.push(header, b.subarray(sec.start, sec.end));
  }
  return Buffer.concat(out);
}

/** A body of no locals and `unreachable` alone. */
const UNREACHABLE = Buffer.from([0, 0x00, 0x0b]);

/**
 * { module, stubbed }: the module with the bodies of the functions `stubs`
 * (indices in the code section) replaced by `unreachable` alone, and how many
 * changed; every other byte as it was. A
 * panic sink's stores go to a frame nothing reads before it traps: the trap
 * is all that is left of it (and the stack pointer is not moved down first).
 */
export function stubFunctions(b, stubs) {
  const sec = sections(b).find((s) => s.id === 10);
  if (!sec) return { module: b, stubbed: 0 };
  let [n, p] = readU32(b, sec.start);
  const bodies = [];
  let stubbed = 0;
  for (let i = 0; i < n; i++) {
    let size;
    [size, p] = readU32(b, p);
    const body = b.subarray(p, p + size);
    const stub = stubs.includes(i) && !body.equals(UNREACHABLE);
    bodies.push(stub ? UNREACHABLE : body);
    stubbed += stub;
    p += size;
  }
  if (stubbed === 0) return { module: b, stubbed };
  const code = Buffer.concat([u32(n), ...bodies.flatMap((x) => [u32(x.length), x])]);
  const header = u32(sec.end - sec.start);
  const module = Buffer.concat([b.subarray(0, sec.start - 1 - header.length), Buffer.from([10]), u32(code.length), code, b.subarray(sec.end)]);
  return { module, stubbed };
}

/**
 * Zeroes the dead ranges of `file` and packs its segments, and stubs its
 * panic sinks; returns the ranges (with `stubbed`, the bodies made smaller,
 * and `kept`, the matches left in for want of evidence). `before` is the
 * module before wasm-opt, whose code shows the texts' extents: without it
 * no text is zeroed.
 */
export function stripDeadData(file, { before = null, dryRun = false } = {}) {
  const orig = readFileSync(file);
  const numbers = codeNumbers(file);
  const dead = deadRanges(orig, numbers, before === null ? null : extents(before));
  const { module: b, stubbed } = stubFunctions(orig, numbers.stubs);
  dead.stubbed = stubbed;
  if (dryRun || (dead.length === 0 && stubbed === 0)) return dead;
  for (const s of dataSegments(b)) {
    for (const d of dead) {
      const from = Math.max(d.from, s.addr);
      const to = Math.min(d.to, s.addr + (s.end - s.start));
      if (from < to) b.fill(0, s.start + (from - s.addr), s.start + (to - s.addr));
    }
  }
  writeFileSync(file, packZeros(b));
  return dead;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, before, flag] = process.argv.slice(2);
  if (!file || !before) throw new Error("usage: node tools/dead-data.mjs FILE.wasm BEFORE-WASM-OPT.wasm [--dry-run]");
  const dead = stripDeadData(file, { before, dryRun: flag === "--dry-run" });
  const bytes = dead.reduce((n, d) => n + d.to - d.from, 0);
  console.log(`${file}: ${dead.length} dead runtime text(s), ${bytes} B, ${dead.kept} kept, ${dead.stubbed} panic sink(s) stubbed${flag === "--dry-run" ? " (dry run)" : ""}`);
}
