// Dead runtime data out of an optimised .wasm (`make build`, after wasm-opt,
// through tools/wasm-names.mjs's imports step).
//
//   node tools/dead-data.mjs FILE.wasm [--dry-run]
//
// The linker lays out the read-only data of everything it links, and
// wasm-opt removes functions but never bytes of a data segment. So text
// that only removed code read stays in the module: wasm-bindgen's Closure
// shims' "closure invoked recursively or after being dropped" (js-sys's
// imports that take closures are linked for their descriptors), js-sys's
// JSPI poll loop (a `#[no_mangle]` export, dropped before wasm-opt) with its
// source path and RefCell panic texts, and core::fmt's 00..99 digit table
// (its only reader, `<u32 as Display>::fmt`, is a body of `unreachable` in
// the table). Each of the texts listed below, and each panic Location that
// points at one, is zeroed when nothing live can reach it:
//   - no `i32.const` or memory `offset=` in any function (read from
//     binaryen's wasm-dis) falls in it or in the MARGIN bytes before it (a
//     struct or template that starts just before the text);
//   - no 4 bytes of data, at any alignment, outside the texts found dead,
//     hold an address inside it.
// Then the zeros are cut out of the segments (memory starts as zeros; the
// rest of the module is copied byte for byte: a wasm-opt round trip would
// write its code some 100 B larger). A text whose readers are still there
// stays, so a new wasm-bindgen or Rust can only make this do less.
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

/** Every constant and memory offset in the module's functions. */
export function codeNumbers(file) {
  const wasmDis = join(dirname(fileURLToPath(import.meta.url)), "node_modules", ".bin", "wasm-dis");
  const wat = execFileSync(wasmDis, [file], { maxBuffer: 1 << 28, encoding: "utf8" });
  const nums = new Set();
  for (const line of wat.split("\n")) {
    if (line.startsWith(" (data ")) continue;
    for (const m of line.matchAll(/i32\.const (-?\d+)|offset=(\d+)/g)) nums.add(Number(m[1] ?? m[2]) >>> 0);
  }
  return [...nums];
}

/**
 * The ranges of addresses [from, to) of the listed texts (and the Locations
 * pointing at them) that nothing live reaches.
 */
export function deadRanges(b, numbers) {
  const segs = dataSegments(b);
  const cands = [];
  for (const s of segs) {
    const text = b.subarray(s.start, s.end).toString("latin1");
    for (const re of TEXTS) {
      for (const m of text.matchAll(re)) cands.push({ from: s.addr + m.index, to: s.addr + m.index + m[0].length });
    }
  }
  // Panic Locations ({ file: &str, line, col }: 16 bytes) that point at a text.
  const texts = [...cands];
  for (const s of segs) {
    for (let o = (4 - (s.addr % 4)) % 4; o + 16 <= s.end - s.start; o += 4) {
      const ptr = b.readUInt32LE(s.start + o);
      const len = b.readUInt32LE(s.start + o + 4);
      if (texts.some((t) => t.from === ptr && t.to - t.from === len)) cands.push({ from: s.addr + o, to: s.addr + o + 16 });
    }
  }
  const inRange = (v, c, margin) => v >= c.from - margin && v < c.to;
  for (const c of cands) c.dead = !numbers.some((v) => inRange(v, c, MARGIN));
  // Data words outside the dead ones that point into a candidate make it live;
  // repeated until nothing changes (a Location made live keeps its text).
  for (let changed = true; changed; ) {
    changed = false;
    for (const s of segs) {
      for (let o = 0; o + 4 <= s.end - s.start; o++) {
        const at = s.addr + o;
        if (cands.some((c) => c.dead && at + 4 > c.from && at < c.to)) continue;
        const v = b.readUInt32LE(s.start + o);
        for (const c of cands) {
          if (c.dead && inRange(v, c, 0)) {
            c.dead = false;
            changed = true;
          }
        }
      }
    }
  }
  return cands.filter((c) => c.dead).map(({ from, to }) => ({ from, to }));
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

/** Zeroes the dead ranges of `file` and packs its segments; returns the ranges. */
export function stripDeadData(file, { dryRun = false } = {}) {
  const b = readFileSync(file);
  const dead = deadRanges(b, codeNumbers(file));
  if (dryRun || dead.length === 0) return dead;
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
  const [file, flag] = process.argv.slice(2);
  if (!file) throw new Error("usage: node tools/dead-data.mjs FILE.wasm [--dry-run]");
  const dead = stripDeadData(file, { dryRun: flag === "--dry-run" });
  const bytes = dead.reduce((n, d) => n + d.to - d.from, 0);
  console.log(`${file}: ${dead.length} dead runtime text(s), ${bytes} B${flag === "--dry-run" ? " (dry run)" : " zeroed and packed out"}`);
}
