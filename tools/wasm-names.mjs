// The names between a wasm-pack build's .wasm and its JS, in `make build`,
// for one build directory (target/pkg-web, -node, -edge). Two steps:
//
//   node tools/wasm-names.mjs exports DIR   (before wasm-opt)
//     Drops every export that no JS of the build names (wasm-bindgen exports
//     `start`, `__wbindgen_free`, `__abort_handler`, `__instance_terminated`,
//     which this glue never reads; without the export wasm-opt can drop or
//     inline what it held alive), and gives the two exports that only the
//     snippet reaches (shell.js: `X.coola_op`, `exports.coola_callback`) the
//     names `_` and `$` in the .wasm, the snippet and the .d.ts files.
//     `memory` always stays (callers of init() read it). The exports the glue
//     reaches as `wasm.<name>` stay for pkg-template/shorten.mjs, which names
//     them a, b, c... (never `_` or `$`). Leaves a copy of the .wasm as
//     DIR.pre-opt.wasm for the imports step.
//
//   node tools/wasm-names.mjs imports DIR   (after wasm-opt)
//     Removes from the glue's imports object the functions the optimised
//     .wasm no longer imports (wasm-opt drops imports nothing calls; the glue
//     still carries them under their `__wbg_<name>_<hash>` names), then cuts
//     out of the .wasm's data the runtime texts that only removed code read
//     (tools/dead-data.mjs), shown whole by DIR.pre-opt.wasm, the module
//     before wasm-opt that the exports step leaves (removed afterwards).
//
// Every rewrite is exact: a name found a number of times other than the one
// expected, an old name left afterwards, or a glue not in the form handled
// here fails the build, so a new wasm-bindgen cannot ship a .wasm and JS that
// disagree.
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { escape, listNames, renameWasm } from "../pkg-template/wasm-module.mjs";
import { stripDeadData } from "./dead-data.mjs";

/** The snippet-only exports and their short names. */
const SNIPPET_EXPORTS = new Map([
  ["coola_op", "_"],
  ["coola_callback", "$"],
]);

function fail(msg) {
  throw new Error(`wasm-names: ${msg}`);
}

function* jsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* jsFiles(p);
    else if (p.endsWith(".js")) yield p;
  }
}

/** `.name` or a quoted "name": how JS reaches a property by name. */
const reachedRe = (name) => new RegExp(`\\.${escape(name)}(?![\\w$])|["'\`]${escape(name)}["'\`]`);
/** Whether code (not a comment on lines of its own) in `src` reaches `name`. */
const reached = (name, src) => reachedRe(name).test(src.replace(/^\s*\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, ""));

function exportsStep(dir) {
  const wasmFile = join(dir, "coola_tracker_bg.wasm");
  const glueFile = join(dir, "coola_tracker.js");
  const wasm = readFileSync(wasmFile);
  const glue = readFileSync(glueFile, "utf8");
  const snippets = [...jsFiles(join(dir, "snippets"))].map((f) => ({ f, src: readFileSync(f, "utf8") }));
  if (snippets.length === 0) fail(`${dir}: no snippet`);
  const exports = listNames(wasm).exports.map((e) => e.name);
  for (const n of SNIPPET_EXPORTS.values()) if (exports.includes(n)) fail(`${dir}: the .wasm already exports ${n}`);

  const dropped = [];
  const out = renameWasm(wasm, {
    module: (m) => m,
    import: (_m, n) => n,
    export: (name) => {
      if (name === "memory") return name;
      if (SNIPPET_EXPORTS.has(name)) {
        if (!snippets.some((s) => reached(name, s.src))) fail(`${dir}: no snippet reaches ${name}`);
        if (new RegExp(`\\bwasm\\.${escape(name)}(?![\\w$])`).test(glue)) fail(`${dir}: the glue reaches ${name}`);
        return SNIPPET_EXPORTS.get(name);
      }
      if (new RegExp(`\\bwasm\\.${escape(name)}(?![\\w$])`).test(glue)) return name;
      if (reached(name, glue) || snippets.some((s) => reached(name, s.src))) {
        fail(`${dir}: the JS names the export ${name} in a form not handled here`);
      }
      dropped.push(name);
      return null;
    },
  });
  for (const name of SNIPPET_EXPORTS.keys()) if (!exports.includes(name)) fail(`${dir}: the .wasm exports no ${name}`);

  // The snippet reaches the two as `<object>.<name>(`: each becomes `<object>.<short>(`.
  for (const s of snippets) {
    let src = s.src;
    for (const [from, to] of SNIPPET_EXPORTS) {
      src = src.replace(new RegExp(`\\.${escape(from)}\\(`, "g"), `.${to}(`);
      if (reached(from, src)) fail(`${s.f}: ${from} is still reached after the rename`);
    }
    if (src !== s.src) writeFileSync(s.f, src);
  }

  // The types of init()'s result (the web builds' coola_tracker.d.ts, and
  // every build's coola_tracker_bg.wasm.d.ts).
  const declared = new Set();
  for (const f of ["coola_tracker.d.ts", "coola_tracker_bg.wasm.d.ts"]) {
    const file = join(dir, f);
    let src;
    try {
      src = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const decl = (name) => new RegExp(`^(\\s*(?:readonly|export const) )${escape(name)}(:[^\\n]*\\n)`, "m");
    for (const name of dropped) src = src.replace(decl(name), "");
    for (const [from, to] of SNIPPET_EXPORTS) {
      if (decl(from).test(src)) declared.add(from);
      src = src.replace(decl(from), (_m, head, rest) => head + to + rest);
    }
    writeFileSync(file, src);
  }
  for (const name of SNIPPET_EXPORTS.keys()) if (!declared.has(name)) fail(`${dir}: no .d.ts declares ${name}`);
  writeFileSync(wasmFile, out);
  // The module before wasm-opt, for the imports step (its code shows where
  // each text of tools/dead-data.mjs begins and ends).
  writeFileSync(`${dir}.pre-opt.wasm`, out);
  console.log(`${dir}: exports dropped (${dropped.join(", ")}), renamed (${[...SNIPPET_EXPORTS].map(([a, b]) => `${a} -> ${b}`).join(", ")})`);
}

function importsStep(dir) {
  const wasmFile = join(dir, "coola_tracker_bg.wasm");
  const glueFile = join(dir, "coola_tracker.js");
  const glue = readFileSync(glueFile, "utf8");
  const own = new Set(listNames(readFileSync(wasmFile)).imports.filter((i) => i.module === "./coola_tracker_bg.js").map((i) => i.name));
  const obj = /^( {4}const import0 = \{\n {8}__proto__: null,\n)([\s\S]*?)(^ {4}\};\n)/m.exec(glue);
  if (!obj) fail(`${glueFile}: no imports object in the form handled here`);
  // Each entry: `        name: function(args) {` ... `        },` (8 spaces), or
  // `        name: function() { return handleError(function (args) {` ...
  // `        }, arguments); },` for an import that catches.
  const entry =
    /^ {8}([\w$]+): function(?:\([^)\n]*\) \{| ?\(\) \{ return handleError\(function ?\([^)\n]*\) \{)\n(?: {12}[^\n]*\n|\n)*? {8}\}(?:, arguments\); \})?,\n/gm;
  const entries = [...obj[2].matchAll(entry)];
  if (entries.map((m) => m[0]).join("") !== obj[2]) fail(`${glueFile}: the imports object holds more than functions in the form handled here`);
  const keys = entries.map((m) => m[1]);
  for (const n of own) if (!keys.includes(n)) fail(`${glueFile}: the .wasm imports ${n}, which the glue does not give`);
  const dropped = keys.filter((k) => !own.has(k));
  const body = entries.filter((m) => own.has(m[1])).map((m) => m[0]).join("");
  let out = glue.slice(0, obj.index) + obj[1] + body + obj[3] + glue.slice(obj.index + obj[0].length);
  for (const n of dropped) if (new RegExp(`(?<![\\w$])${escape(n)}(?![\\w$])`).test(out)) fail(`${glueFile}: ${n} is still named`);
  writeFileSync(glueFile, out);
  console.log(`${dir}: imports the .wasm does not take dropped from the glue (${dropped.join(", ") || "none"})`);
  // The module as the exports step left it, before wasm-opt: its code shows
  // where each text begins and ends.
  const before = `${dir}.pre-opt.wasm`;
  if (!existsSync(before)) fail(`${before} is missing: run the exports step on ${dir} before wasm-opt`);
  const dead = stripDeadData(wasmFile, { before });
  rmSync(before);
  console.log(
    `${dir}: ${dead.length} dead runtime text(s) cut out of the data (${dead.reduce((n, d) => n + d.to - d.from, 0)} B), ${dead.kept} kept (not shown whole), ${dead.stubbed} panic sink(s) made \`unreachable\``,
  );
  // A new Rust or wasm-bindgen may lay the data out so that no text is
  // shown whole any more: they then all ship (correct, some 700 B heavier).
  if (dead.kept > 0 && dead.length === 0) {
    console.warn(`wasm-names: WARNING ${dir}: every listed text (${dead.kept}) kept in the .wasm: none is shown whole by the module before wasm-opt (tools/dead-data.mjs)`);
  }
}

const [step, dir] = process.argv.slice(2);
if (!dir || !{ exports: 1, imports: 1 }[step]) fail("usage: node tools/wasm-names.mjs exports|imports DIR");
(step === "exports" ? exportsStep : importsStep)(dir);
