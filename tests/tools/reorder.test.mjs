// tools/reorder.mjs changes only the order of a module's functions: a module
// written in another order must behave the same through every way a
// function is reached (a direct call, call_indirect through the table, an
// export, ref.func, the start function).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { read, reorder, write } from "../../tools/reorder.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const wasmAs = join(root, "tools/node_modules/.bin/wasm-as");

// Eight functions and an imported one: calls among them, a table, ref.func,
// an exported mutable global set by the start function.
const WAT = `(module
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (type $un (func (param i32) (result i32)))
  (table 3 funcref)
  (elem (i32.const 0) $inc $sq $dec)
  (global $started (export "started") (mut i32) (i32.const 0))
  (func $inc (type $un) (i32.add (local.get 0) (i32.const 1)))
  (func $sq (type $un) (i32.mul (local.get 0) (local.get 0)))
  (func $dec (type $un) (i32.sub (local.get 0) (i32.const 1)))
  (func $pick (param i32 i32) (result i32)
    (call_indirect (type $un) (local.get 1) (local.get 0)))
  (func $chain (export "chain") (param i32) (result i32)
    (call $twice (call $sq (call $inc (local.get 0)))))
  (func $viaTable (export "viaTable") (param i32 i32) (result i32)
    (call $pick (local.get 0) (local.get 1)))
  (func $viaRef (export "viaRef") (param i32) (result i32)
    (table.set (i32.const 2) (ref.func $sq))
    (call_indirect (type $un) (local.get 0) (i32.const 2)))
  (func $init (global.set $started (i32.const 42)))
  (start $init)
  (elem declare func $sq)
)`;

function assemble() {
  const dir = mkdtempSync(join(tmpdir(), "reorder-"));
  writeFileSync(join(dir, "m.wat"), WAT);
  execFileSync(wasmAs, ["--enable-reference-types", "--enable-bulk-memory", join(dir, "m.wat"), "-o", join(dir, "m.wasm")]);
  return readFileSync(join(dir, "m.wasm"));
}

async function run(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, { env: { twice: (x) => 2 * x } });
  const e = instance.exports;
  return {
    chain: [0, 1, 5].map((x) => e.chain(x)),
    table: [0, 1, 2].map((i) => e.viaTable(i, 7)),
    viaRef: e.viaRef(9),
    started: e.started.value,
  };
}

test("the identity order writes the module back byte for byte", () => {
  const bytes = assemble();
  const m = read(bytes);
  assert.equal(m.bodies.length, 8);
  assert.deepEqual(write(bytes, m, m.bodies.map((_, i) => i)), bytes);
});

test("a module written in another order behaves the same", async () => {
  const bytes = assemble();
  const want = await run(bytes);
  assert.deepEqual(want, { chain: [2, 8, 72], table: [8, 49, 6], viaRef: 81, started: 42 });
  const m = read(bytes);
  const n = m.bodies.length;
  const orders = [
    [...Array(n).keys()].reverse(),
    [3, 0, 7, 6, 1, 5, 2, 4],
    [7, 6, 5, 4, 0, 1, 2, 3],
  ];
  for (const order of orders) {
    const out = write(bytes, m, order);
    assert.ok(WebAssembly.validate(out), `order ${order}`);
    assert.notDeepEqual(out, bytes);
    assert.deepEqual(await run(out), want, `order ${order}`);
  }
});

test("reorder gives a module that behaves the same, or null, the same twice", async () => {
  const bytes = assemble();
  const a = reorder(bytes, 50);
  const b = reorder(bytes, 50);
  assert.deepEqual(a, b);
  if (a) assert.deepEqual(await run(a), await run(bytes));
});

test("a ref.func in a global's value, which it would not remap, is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "reorder-"));
  writeFileSync(
    join(dir, "g.wat"),
    `(module
      (global $g (export "g") funcref (ref.func $b))
      (func $a (result i32) (i32.const 1))
      (func $b (export "b") (result i32) (i32.const 2)))`,
  );
  execFileSync(wasmAs, ["--enable-reference-types", join(dir, "g.wat"), "-o", join(dir, "g.wasm")]);
  assert.throws(() => read(readFileSync(join(dir, "g.wasm"))), /constant expression opcode 0xd2/);
});

test("a module it cannot read is refused, not miswritten", () => {
  const bytes = Buffer.from(assemble());
  // Put an opcode that does not exist (0xff) as the first instruction of
  // the first body: the reader must throw rather than guess.
  const m = read(bytes);
  const first = m.bodies[0].parts[0];
  const at = first.byteOffset - bytes.byteOffset + 1 + 0; // after the locals count (0 groups)
  const broken = Buffer.from(bytes);
  broken[at] = 0xff;
  assert.throws(() => read(broken), /opcode 0xff/);
});
