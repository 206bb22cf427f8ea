// Short names for the interface between the .wasm and its glue. wasm-bindgen
// names each import `__wbg_<name>_<16 hex digits>` under the module
// "./coola_tracker_bg.js", the snippet's imports under its whole path, and
// exports after the Rust items (`coolatracker_trackPageView`); each name is
// written twice (in the .wasm and in coola_tracker.js) and the hex digits do
// not compress. Here every such name becomes one or two letters, in the .wasm's
// import and export sections and in the glue and its .d.ts files.
//
// The glue is rewritten only where it has the form handled here; anything else
// (a name that is not found exactly where expected, or an old name still in
// the glue afterwards) fails the build, so a new wasm-bindgen cannot ship a
// module whose names and glue disagree.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { escape, listNames, renameWasm } from "./wasm-module.mjs";

/** One or two letters for the n-th name: a..z, A..Z, then aa, ab... */
function shortName(n) {
  const abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return n < abc.length ? abc[n] : abc[Math.floor(n / abc.length) - 1] + abc[n % abc.length];
}

/** Replaces `re` in `src` exactly `count` times (or at least once: count 0). */
function replaceCounted(src, re, to, what, count) {
  let n = 0;
  const out = src.replace(re, (...m) => {
    n++;
    return typeof to === "function" ? to(...m) : to;
  });
  if (count ? n !== count : n === 0) throw new Error(`glue: ${what} found ${n} times where it was expected ${count || "at least once"}`);
  return out;
}

/**
 * Shortens the names of the build in `dir` (coola_tracker_bg.wasm,
 * coola_tracker.js, coola_tracker.d.ts, coola_tracker_bg.wasm.d.ts).
 * Returns { before, after } sizes of the .wasm.
 */
export function shorten(dir) {
  const wasmFile = join(dir, "coola_tracker_bg.wasm");
  const glueFile = join(dir, "coola_tracker.js");
  const wasm = readFileSync(wasmFile);
  let glue = readFileSync(glueFile, "utf8");
  const mod = listNames(wasm);

  // Module names: the glue's own module and the snippet(s), as keys of the
  // object __wbg_get_imports returns.
  const modules = new Map();
  for (const { module } of mod.imports) {
    if (!modules.has(module)) modules.set(module, shortName(modules.size));
  }
  // Import names of the glue's own module (its keys in `import0`); the
  // snippet's imports are its export names and stay.
  const own = "./coola_tracker_bg.js";
  if (!modules.has(own)) throw new Error(`wasm: no imports from ${own}`);
  const imports = new Map();
  for (const { module, name } of mod.imports) {
    if (module === own && !imports.has(name)) imports.set(name, shortName(imports.size));
  }
  // Export names that the glue reaches (as `wasm.<name>`), but `memory`
  // (init() resolves to the exports, and callers read `memory`); others are
  // reached by their names from elsewhere (the snippet's `coola_callback`).
  const exports = new Map();
  for (const { name } of mod.exports) {
    if (name !== "memory" && new RegExp(`\\bwasm\\.${escape(name)}(?![\\w$])`).test(glue)) {
      exports.set(name, shortName(exports.size));
    }
  }

  const out = renameWasm(wasm, {
    module: (m) => modules.get(m),
    import: (m, n) => (m === own ? imports.get(n) : n),
    export: (n) => exports.get(n) ?? n,
  });

  for (const [from, to] of modules) {
    glue = replaceCounted(glue, new RegExp(`^(\\s+)"${escape(from)}": (import\\d+),$`, "gm"), (_m, sp, v) => `${sp}"${to}": ${v},`, `the imports key "${from}"`, 0);
  }
  for (const [from, to] of imports) {
    glue = replaceCounted(glue, new RegExp(`^(\\s+)${escape(from)}: `, "gm"), (_m, sp) => `${sp}${to}: `, `the import ${from}`, 1);
  }
  for (const [from, to] of exports) {
    glue = glue.replace(new RegExp(`\\bwasm\\.${escape(from)}(?![\\w$])`, "g"), `wasm.${to}`);
  }
  // No old name may be left, except an export's where the glue declares a
  // function of that name itself (`export function encodeBatch`): those are
  // the glue's own.
  for (const name of [...imports.keys(), ...exports.keys()]) {
    const word = `(?<![\\w$])${escape(name)}(?![\\w$])`;
    if (exports.has(name) && new RegExp(`function ${word}`).test(glue)) continue;
    if (new RegExp(word).test(glue)) throw new Error(`glue: ${name} is still named after the rename`);
  }
  writeFileSync(wasmFile, out);
  writeFileSync(glueFile, glue);

  // The types of init()'s result name the exports.
  for (const f of ["coola_tracker.d.ts", "coola_tracker_bg.wasm.d.ts"]) {
    const file = join(dir, f);
    let src;
    try {
      src = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const [from, to] of exports) {
      src = src.replace(new RegExp(`^(\\s*(?:readonly|export const) )${escape(from)}:`, "gm"), `$1${to}:`);
    }
    writeFileSync(file, src);
  }
  return { before: wasm.length, after: out.length };
}

/**
 * ES module glue (web, edge): the snippet's functions that the .wasm imports
 * as they are come from `import * as importN`, a namespace object, which
 * makes a bundler keep every export of the snippet with a getter for each.
 * Named imports of just those functions instead (run after `shorten`), each
 * under a one- or two-letter name in the .wasm and the imports object.
 */
export function namedSnippetImports(dir) {
  const glueFile = join(dir, "coola_tracker.js");
  const wasmFile = join(dir, "coola_tracker_bg.wasm");
  let glue = readFileSync(glueFile, "utf8");
  const wasm = readFileSync(wasmFile);
  const { imports } = listNames(wasm);
  // The snippet's functions that the .wasm imports as they are get short
  // names too (module -> Map export name -> short name): the import object
  // written here maps each short name to its named import.
  const short = new Map();
  const spec = new Map([...glue.matchAll(/^import \* as (import\d+) from "(\.\/snippets\/[^"]+)";?$/gm)].map((m) => [m[1], m[2]]));
  if (spec.size === 0) throw new Error("glue: no `import * as importN` of a snippet");
  glue = glue.replace(/^import \* as import\d+ from "\.\/snippets\/[^"]+";?\n/gm, "");
  const lines = [];
  let k = 0;
  glue = replaceCounted(
    glue,
    /^(\s+)"([^"]+)": (import\d+),$/gm,
    (line, sp, module, ns) => {
      if (!spec.has(ns)) return line;
      const names = [...new Set(imports.filter((i) => i.module === module).map((i) => i.name))];
      const local = names.map(() => `snippet${k++}`);
      const to = new Map(names.map((n, i) => [n, shortName(i)]));
      short.set(module, to);
      lines.push(`import { ${names.map((n, i) => `${n} as ${local[i]}`).join(", ")} } from "${spec.get(ns)}";\n`);
      return `${sp}"${module}": { ${names.map((n, i) => `${to.get(n)}: ${local[i]}`).join(", ")} },`;
    },
    "a snippet's key in the imports object",
    0,
  );
  for (const ns of spec.keys()) {
    if (new RegExp(`(?<![\\w$])${ns}(?![\\w$])`).test(glue)) throw new Error(`glue: ${ns} is still used after the named imports`);
  }
  // After the `@ts-self-types` comment, which stays the first line.
  const head = /^\/\* @ts-self-types=[^\n]*\n/.exec(glue)?.[0] ?? "";
  writeFileSync(glueFile, head + lines.join("") + glue.slice(head.length));
  writeFileSync(
    wasmFile,
    renameWasm(wasm, {
      module: (m) => m,
      import: (m, n) => short.get(m)?.get(n) ?? n,
      export: (n) => n,
    }),
  );
}

/**
 * Removes passStringToWasm0's branch for a missing `realloc` from the glue
 * in `dir`: every call passes the module's realloc export, so the branch
 * never runs. Fails when a call passes something else, or the branch is not
 * in the form handled here.
 */
export function dropUnusedStringBranch(dir) {
  const glueFile = join(dir, "coola_tracker.js");
  const glue = readFileSync(glueFile, "utf8");
  const calls = [...glue.matchAll(/passStringToWasm0\(([^()]*)\)/g)].map((m) => m[1]);
  const uses = calls.filter((args) => !/^arg, malloc, realloc$/.test(args));
  if (uses.length === 0 || !uses.every((args) => /^[\w$]+, wasm\.[\w$]+, wasm\.[\w$]+$/.test(args))) {
    throw new Error(`glue: passStringToWasm0 is called without the realloc export: ${uses.join(" | ")}`);
  }
  const branch = /\n {4}if \(realloc === undefined\) \{\n {8}const buf = cachedTextEncoder\.encode\(arg\);\n {8}const ptr = malloc\(buf\.length, 1\) >>> 0;\n {8}getUint8ArrayMemory0\(\)\.subarray\(ptr, ptr \+ buf\.length\)\.set\(buf\);\n {8}WASM_VECTOR_LEN = buf\.length;\n {8}return ptr;\n {4}\}\n/;
  writeFileSync(glueFile, replaceCounted(glue, branch, "\n", "passStringToWasm0's branch for a missing realloc", 1));
}

/**
 * Removes the glue's fallback for a `TextEncoder` without `encodeInto` in
 * `dir`. The .wasm needs bulk memory, sign extension and non-trapping
 * float-to-int (Chrome 75, Firefox 79, Safari 15, Node 12.5), and every one
 * of those has `encodeInto` (Chrome 74, Firefox 66, Safari 14.1, Node 12.11
 * with the rest from Node 20, workerd): the fallback never runs. Fails when
 * the fallback is not in the form handled here.
 */
export function dropEncodeIntoFallback(dir) {
  const glueFile = join(dir, "coola_tracker.js");
  const glue = readFileSync(glueFile, "utf8");
  const fallback = /\nif \(!\('encodeInto' in cachedTextEncoder\)\) \{\n {4}cachedTextEncoder\.encodeInto = function \(arg, view\) \{\n {8}const buf = cachedTextEncoder\.encode\(arg\);\n {8}view\.set\(buf\);\n {8}return \{\n {12}read: arg\.length,\n {12}written: buf\.length\n {8}\};\n {4}\};\n\}\n/;
  writeFileSync(glueFile, replaceCounted(glue, fallback, "\n", "the glue's fallback for a TextEncoder without encodeInto", 1));
}

/**
 * ES module glue (web, edge; run after `namedSnippetImports`): the glue's
 * getStringFromWasm0 decodes through the snippet's `text`, which the glue
 * already imports, instead of its own TextDecoder (and its counter for
 * Safari's decoder limit, which `text` does not meet: it makes a decoder per
 * long string). The start function, run by init() before any call, gives the
 * snippet the module's memory. Fails when the glue is not in the form handled
 * here.
 */
export function decodeWithSnippetText(dir) {
  const glueFile = join(dir, "coola_tracker.js");
  let glue = readFileSync(glueFile, "utf8");
  // `text` is imported by name, or, when the .wasm imports it with no
  // conversion (its arguments are i32), as one of the direct `snippetN`.
  const imported = /^import \{([^}]*)\} from (["'])\.\/snippets\/[^"']+\/shell\.js\2;$/gm;
  let local;
  for (const [, names] of glue.matchAll(imported)) {
    const m = /(?:^|,)\s*text(?:\s+as\s+([\w$]+))?\s*(?:,|$)/.exec(names);
    if (m) local = m[1] ?? "text";
  }
  if (!local) throw new Error("glue: the snippet's text is not imported");
  const body = /(function getStringFromWasm0\(ptr, len\) \{\n) {4}ptr = ptr >>> 0;\n {4}return decodeText\(getUint8ArrayMemory0\(\)\.subarray\(ptr, ptr \+ len\)\);\n\}/;
  glue = replaceCounted(glue, body, (_m, head) => `${head}    return ${local}(ptr >>> 0, len >>> 0);\n}`, "getStringFromWasm0", 1);
  const decoder = /\nlet cachedTextDecoder = new TextDecoder\('utf-8', \{ ignoreBOM: true \}\);\ncachedTextDecoder\.decode\(\);\nconst MAX_SAFARI_DECODE_BYTES = 2146435072;\nlet numBytesDecoded = 0;\nfunction decodeText\(bytes\) \{\n(?: {4}[^\n]*\n| {8}[^\n]*\n)+\}\n/;
  glue = replaceCounted(glue, decoder, "\n", "the glue's TextDecoder", 1);
  if (/decodeText|cachedTextDecoder/.test(glue)) throw new Error("glue: the TextDecoder is still used");
  writeFileSync(glueFile, glue);
}
