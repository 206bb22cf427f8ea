// tools/dead-data.mjs zeroes (and cuts out of the segments) only the listed
// runtime texts that nothing live can reach: the module's memory after
// instantiation is the same but for those bytes, which read as zeros.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { dataSegments, stripDeadData } from "../../tools/dead-data.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const wasmAs = join(root, "tools/node_modules/.bin/wasm-as");

const CLOSURE = "closure invoked recursively or after being dropped";
const JSPI = "/home/x/.cargo/registry/src/index/js-sys-0.3.107/src/futures/jspi.rs";
const MUT = "RefCell already mutably borrowed";
const SHARED = "RefCell already borrowed";
const DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0")).join("");
const ZEROS = "\\00".repeat(40);

// At 1024: the closure text (no reader), a run of zeros, the JSPI path and a
// Location pointing at it (no reader of either), the two RefCell texts (the
// first read by code, the second through a pointer in live data), the digit
// table (code reaches 4 bytes before it: kept, a template's header), a live
// text, a run of zeros, another.
const jspiAt = 1024 + CLOSURE.length + 40;
const locAt = Math.ceil((jspiAt + JSPI.length) / 4) * 4;
const pad = locAt - (jspiAt + JSPI.length);
const mutAt = locAt + 16;
const sharedAt = mutAt + MUT.length;
const digitsAt = sharedAt + SHARED.length;
const tailAt = digitsAt + DIGITS.length + "live text".length + 40;
const word = (n) => [0, 8, 16, 24].map((s) => "\\" + ((n >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
const WAT = `(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "${CLOSURE}${ZEROS}${JSPI}${"\\00".repeat(pad)}${word(jspiAt)}${word(JSPI.length)}${word(7)}${word(9)}${MUT}${SHARED}${DIGITS}live text${ZEROS}tail")
  (data (i32.const 4096) "${word(sharedAt)}")
  (func (export "f") (result i32) (i32.add (i32.const ${mutAt}) (i32.load offset=4096 (i32.const 0))))
  (func (export "g") (result i32) (i32.const ${digitsAt - 4}))
)`;

/** The module `wat` with a function that reads each (pointer, length) of
 * `refs`: the code wasm-opt removed, as the module before it shows it. */
function withReaders(wat, refs) {
  const body = refs.map(([p, l]) => `(drop (i32.add (i32.const ${p}) (i32.const ${l})))`).join(" ");
  return wat.replace(/\)\s*$/, `  (func $removed ${body})\n)`);
}

async function memory(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes);
  return Buffer.from(instance.exports.memory.buffer);
}

test("only the unreachable listed texts are zeroed, and their bytes cut out of the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dead-data-test-"));
  const file = join(dir, "m.wasm");
  writeFileSync(join(dir, "m.wat"), WAT);
  execFileSync(wasmAs, [join(dir, "m.wat"), "-o", file]);
  const pre = built(withReaders(WAT, [[1024, CLOSURE.length]]));
  const before = readFileSync(file);
  const dead = stripDeadData(file, { before: pre });
  const after = readFileSync(file);

  assert.deepEqual(
    dead.map((d) => [d.from, d.to]).sort((a, b) => a[0] - b[0]),
    [
      [1024, 1024 + CLOSURE.length],
      [jspiAt, jspiAt + JSPI.length],
      [locAt, locAt + 16],
    ],
  );
  const [m0, m1] = [await memory(before), await memory(after)];
  const zeroed = (i) => dead.some((d) => i >= d.from && i < d.to);
  for (let i = 0; i < m0.length; i++) {
    if (zeroed(i)) assert.equal(m1[i], 0, `byte ${i} zeroed`);
    else if (m0[i] !== m1[i]) assert.fail(`byte ${i} changed (${m0[i]} -> ${m1[i]})`);
  }
  assert.ok(after.length < before.length - 150, `${before.length} -> ${after.length} B`);
  assert.deepEqual(
    dataSegments(after).map((s) => s.addr),
    [mutAt, tailAt, 4096],
    "the zeros (the dead texts and the runs after them) are out of the segments",
  );
  const { instance } = await WebAssembly.instantiate(after);
  assert.equal(instance.exports.f(), mutAt + sharedAt);
});

test("a module with none of the texts is left as it is", () => {
  const dir = mkdtempSync(join(tmpdir(), "dead-data-test-"));
  const file = join(dir, "m.wasm");
  writeFileSync(join(dir, "m.wat"), `(module (memory 1) (data (i32.const 1024) "hello${ZEROS}world"))`);
  execFileSync(wasmAs, [join(dir, "m.wat"), "-o", file]);
  const before = readFileSync(file);
  assert.deepEqual([...stripDeadData(file, { before: file })], []);
  assert.deepEqual(readFileSync(file), before);
});

// A panic path as the slim build compiles it (src/slim.rs: the handler is
// `unreachable`): `fail` hands a message and a Location (pointing at a
// library path) to `panic_fmt`, which stores them in a frame below the stack
// pointer and traps. Neither is read by anything; the live text is.
const PATH = "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/alloc/src/raw_vec/mod.rs";
const MSG = "capacity overflow";
const pathAt = 1024;
const msgAt = pathAt + PATH.length;
const panicLocAt = Math.ceil((msgAt + MSG.length) / 4) * 4;
const liveAt = panicLocAt + 16;
const handler = (body) => `(module
  (import "env" "report" (func $report (param i32 i32)))
  (global $sp (mut i32) (i32.const 65536))
  (memory (export "memory") 2)
  (data (i32.const ${pathAt}) "${PATH}${MSG}${"\\00".repeat(panicLocAt - msgAt - MSG.length)}${word(pathAt)}${word(PATH.length)}${word(812)}${word(9)}live text")
  (func $panic_fmt (param i32 i32 i32) (local i32)
    (global.set $sp (local.tee 3 (i32.sub (global.get $sp) (i32.const 32))))
    ${body}
    (unreachable))
  (func (export "fail") (param i32)
    (if (local.get 0) (then (call $panic_fmt (i32.const ${msgAt}) (i32.const 35) (i32.const ${panicLocAt})))))
  (func (export "live") (result i32) (i32.const ${liveAt}))
)`;
const FRAME = `(i32.store offset=12 (local.get 3) (local.get 0)) (i32.store offset=16 (local.get 3) (local.get 1))
    (i32.store offset=24 (local.get 3) (local.get 2)) (i32.store offset=20 (local.get 3) (i32.add (local.get 3) (i32.const 12)))`;

function built(wat) {
  const dir = mkdtempSync(join(tmpdir(), "dead-data-test-"));
  const file = join(dir, "m.wasm");
  writeFileSync(join(dir, "m.wat"), wat);
  execFileSync(wasmAs, [join(dir, "m.wat"), "-o", file]);
  return file;
}

const imports = { env: { report() {} } };

test("texts only a trivial panic handler is given are zeroed: the message, the Location and its path", async () => {
  const file = built(handler(FRAME));
  const before = readFileSync(file);
  const dead = stripDeadData(file, { before: file });
  assert.deepEqual(
    dead.map((d) => [d.from, d.to]).sort((a, b) => a[0] - b[0]),
    [
      [pathAt, pathAt + PATH.length],
      [msgAt, msgAt + MSG.length],
      [panicLocAt, panicLocAt + 16],
    ],
  );
  assert.equal(dead.stubbed, 1, "panic_fmt is made `unreachable` alone");
  const wat = execFileSync(join(root, "tools/node_modules/.bin/wasm-dis"), [file], { encoding: "utf8" });
  assert.doesNotMatch(wat, /\.store|global\.set/, "no frame is written before the trap");
  const after = readFileSync(file);
  const { instance } = await WebAssembly.instantiate(after, imports);
  const mem = Buffer.from(instance.exports.memory.buffer);
  assert.equal(mem.subarray(pathAt, liveAt).every((x) => x === 0), true, "the panic data reads as zeros");
  assert.equal(mem.subarray(liveAt, liveAt + 9).toString("latin1"), "live text");
  assert.equal(instance.exports.live(), liveAt);
  instance.exports.fail(0);
  assert.throws(() => instance.exports.fail(1), WebAssembly.RuntimeError, "the panic still traps");
  assert.ok(after.length < before.length - 100, `${before.length} -> ${after.length} B`);
});

for (const [what, body] of [
  ["reads memory", `${FRAME} (drop (i32.load (local.get 0)))`],
  ["calls into JS", `${FRAME} (call $report (local.get 0) (local.get 1))`],
  ["branches", `(if (local.get 1) (then ${FRAME}))`],
  ["stores outside its frame", `${FRAME} (i32.store (i32.const 64) (local.get 2))`],
]) {
  test(`a panic handler that ${what} keeps every text it is given`, () => {
    const file = built(handler(body));
    const before = readFileSync(file);
    const dead = stripDeadData(file, { before: file });
    assert.deepEqual([...dead], []);
    assert.equal(dead.stubbed, 0);
    assert.deepEqual(readFileSync(file), before);
  });
}

test("an address held by a global, or in either half of an i64 constant, keeps its text", () => {
  const mutAt2 = 1024 + CLOSURE.length;
  const pair = (BigInt(mutAt2) << 32n) | 7n;
  const file = built(`(module
  (memory (export "memory") 1)
  (global $at (export "at") i32 (i32.const 1024))
  (data (i32.const 1024) "${CLOSURE}${MUT}")
  (func (export "f") (i64.store (i32.const 4096) (i64.const ${pair})))
)`);
  const before = readFileSync(file);
  const dead = stripDeadData(file, { before: file });
  assert.deepEqual([...dead], []);
  assert.deepEqual(readFileSync(file), before);
});

test("a pointer that starts in the zeros between two segments keeps the text it points at", () => {
  const dir = mkdtempSync(join(tmpdir(), "dead-data-gap-"));
  const file = join(dir, "m.wasm");
  // The word at 212..216 is 00 00 | 01 00 = 65536: its low half is in the gap
  // before the segment at 214 (wasm-opt cuts zero runs out of segments).
  writeFileSync(
    join(dir, "m.wat"),
    `(module
  (memory (export "memory") 2)
  (data (i32.const 214) "\\01\\00")
  (data (i32.const 65536) "${MUT}")
  (func (export "f") (result i32) (i32.load (i32.const 212)))
)`,
  );
  execFileSync(wasmAs, [join(dir, "m.wat"), "-o", file]);
  const before = readFileSync(file);
  assert.equal(stripDeadData(file, { before: file }).length, 0, "nothing is dead");
  assert.ok(readFileSync(file).equals(before), "the module is left as it was");
});

test("without the module before wasm-opt, no text is zeroed", () => {
  const file = built(WAT);
  const before = readFileSync(file);
  const dead = stripDeadData(file);
  assert.deepEqual([...dead], []);
  assert.ok(dead.kept >= 2, `${dead.kept} kept`);
  assert.deepEqual(readFileSync(file), before);
});

// A listed pattern can occur inside a longer text that something live reads
// from its start: a message quoting "capacity overflow", or a path such as
// "/collect)" that runs on, with no byte between them, into the JSPI path
// (the pattern then begins inside the live text). No constant reaches the
// match or the 8 bytes before it; only evidence of a whole object lets it go.
const QUOTE = "the queue said capacity overflow: shorten it";
const RUN = "(a path such as /collect)";
for (const [what, data, at, len] of [
  ["a message quoting one", QUOTE, 1024 + QUOTE.indexOf("capacity"), "capacity overflow".length],
  ["a text that runs on into one", RUN + JSPI, 1024 + RUN.length, JSPI.length],
]) {
  test(`a listed text inside ${what} keeps the live text whole`, async () => {
    const wat = `(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "${data}")
  (func (export "live") (result i32) (i32.const 1024))
)`;
    const file = built(wat);
    const before = readFileSync(file);
    // The removed code read the listed text as (pointer, length). In the
    // message, its start and extent are shown but nothing bounds it on the
    // left; in the text that runs on, the path was read from its own start,
    // and the match begins earlier (at "/collect)"), where nothing points.
    const dead = stripDeadData(file, { before: built(withReaders(wat, [[at, len]])) });
    assert.deepEqual([...dead], []);
    assert.equal(dead.kept, 1);
    assert.deepEqual(readFileSync(file), before);
    const mem = await memory(readFileSync(file));
    assert.equal(mem.subarray(1024, 1024 + data.length).toString("latin1"), data);
  });
}

test("a text whose bytes before wasm-opt differ is kept", () => {
  const wat = `(module (memory 1) (data (i32.const 1024) "${CLOSURE}"))`;
  const file = built(wat);
  const other = built(withReaders(`(module (memory 1) (data (i32.const 1024) "${CLOSURE.toUpperCase()}"))`, [[1024, CLOSURE.length]]));
  const dead = stripDeadData(file, { before: other });
  assert.deepEqual([...dead], []);
  assert.equal(dead.kept, 1);
  const shown = stripDeadData(file, { before: built(withReaders(wat, [[1024, CLOSURE.length]])) });
  assert.deepEqual([...shown], [{ from: 1024, to: 1024 + CLOSURE.length }]);
});

// Each piece of the evidence is needed: a match with all but one is kept.
const LIVE = "the queue said ";
for (const [what, data, readers, kept] of [
  // Between zeros, but nothing pointed at it.
  ["nothing pointed at its start", `\\00${CLOSURE}\\00`, [], 1],
  // A live text read from its start; the removed code read its first part
  // as a slice ending at the match (the left bound) and pointed at the
  // match with no length, and the text runs on after it ("overflowing").
  ["its end is not bounded", `${LIVE}capacity overflowing it`, [[1024, LIVE.length], [1024 + LIVE.length, 0]], 1],
  // Bounded on the left only by another listed text that is not itself
  // shown whole (nothing pointed at it).
  ["its neighbour is not whole", `${LIVE}${SHARED}capacity overflow: shorten it`, [[1024 + LIVE.length + SHARED.length, 17]], 2],
]) {
  test(`a listed text is kept when ${what}`, async () => {
    const wat = `(module
  (memory (export "memory") 1)
  (data (i32.const 1024) "${data}")
  (func (export "live") (result i32) (i32.const 1024))
)`;
    const file = built(wat);
    const before = readFileSync(file);
    const pre = built(readers.length ? withReaders(wat, readers) : wat);
    const dead = stripDeadData(file, { before: pre });
    assert.deepEqual([...dead], []);
    assert.equal(dead.kept, kept);
    assert.deepEqual(readFileSync(file), before);
  });
}

test("a text stored as one i64 (pointer low, length high) is shown whole", () => {
  const wat = `(module (memory 1) (data (i32.const 1024) "\\00${CLOSURE}y"))`;
  const file = built(wat);
  const pair = (BigInt(CLOSURE.length) << 32n) | 1025n;
  const pre = built(wat.replace(/\)\s*$/, ` (func $removed (i64.store (i32.const 64) (i64.const ${pair}))))`));
  const dead = stripDeadData(file, { before: pre });
  assert.deepEqual([...dead], [{ from: 1025, to: 1025 + CLOSURE.length }]);
});
