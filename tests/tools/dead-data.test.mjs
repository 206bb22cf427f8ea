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

async function memory(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes);
  return Buffer.from(instance.exports.memory.buffer);
}

test("only the unreachable listed texts are zeroed, and their bytes cut out of the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dead-data-test-"));
  const file = join(dir, "m.wasm");
  writeFileSync(join(dir, "m.wat"), WAT);
  execFileSync(wasmAs, [join(dir, "m.wat"), "-o", file]);
  const before = readFileSync(file);
  const dead = stripDeadData(file);
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
  assert.deepEqual(stripDeadData(file), []);
  assert.deepEqual(readFileSync(file), before);
});
