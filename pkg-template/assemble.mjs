// Assembles the npm package in pkg/ from wasm-pack's two builds:
// target/pkg-web (browsers, bundlers, workerd) and target/pkg-node (Node).
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportApi } from "./export-api.mjs";
import { compactLoader } from "./loader.mjs";
import { decodeWithSnippetText, dropEncodeIntoFallback, dropUnusedStringBranch, namedSnippetImports, shorten } from "./shorten.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "pkg");
const tpl = join(root, "pkg-template");
const version = /^version\s*=\s*"([^"]+)"/m.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))[1];

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
for (const [from, to, type] of [
  ["target/pkg-web", "web", "module"],
  ["target/pkg-node", "node", "commonjs"],
  ["target/pkg-edge", "edge", "module"],
]) {
  const dst = join(out, to);
  cpSync(join(root, from), dst, {
    recursive: true,
    filter: (p) => !/(package\.json|\.gitignore|README\.md)$/.test(p),
  });
  writeFileSync(join(dst, "package.json"), JSON.stringify({ type }, null, 2) + "\n");
}

// The Node build requires its JS snippets: make them CommonJS so that every
// Node 20 release loads them (require() of an ES module is not in all of them).
function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}
for (const file of files(join(out, "node", "snippets"))) {
  if (!file.endsWith(".js")) continue;
  let src = readFileSync(file, "utf8");
  const decl = /^export (function|class|const|let) /gm;
  const names = [...src.matchAll(/^export (?:function|class|const|let) (\w+)/gm)].map((m) => m[1]);
  src = src.replace(decl, "$1 ");
  if (/^export /m.test(src)) throw new Error(`${file}: only 'export function', 'class', 'const' and 'let' are supported in snippets`);
  writeFileSync(file, `"use strict";\n${src}\nmodule.exports = { ${names.join(", ")} };\n`);
}

// A tracker lives until shutdown() or free(), like a timer or a listener,
// not until the page drops its last reference to it (see the class in
// src/js/shell.js, which registers no finalizer): wasm-bindgen makes no
// CoolaTracker class of its own, so none of its finalizers is in the glue.
for (const to of ["web", "node", "edge"]) {
  const file = join(out, to, "coola_tracker.js");
  if (/CoolaTrackerFinalization/.test(readFileSync(file, "utf8"))) throw new Error(`${file}: a finalizer would free trackers`);
}

// The CoolaTracker class and the functions are the snippet's; each glue
// module exports them beside wasm-bindgen's own (see export-api.mjs).
for (const build of ["web", "node", "edge"]) exportApi(join(out, build), build === "node");

// wasm-bindgen names the one snippet module once per import (`import * as
// import1..N from "./snippets/.../shell.js"`) and lists it under the same key
// N times in the imports object; bundlers (esbuild, so wrangler) warn about
// each duplicate key. The namespaces are one and the same: keep one key.
for (const build of ["web", "edge"]) {
  const file = join(out, build, "coola_tracker.js");
  const src = readFileSync(file, "utf8");
  const spec = new Map(
    [...src.matchAll(/^import \* as (import\d+) from (["'])(.+?)\2;?$/gm)].map((m) => [m[1], m[3]]),
  );
  const seen = new Map();
  const fixed = src.replace(/^(\s*)(["'])(\.\/snippets\/[^"']+)\2: (import\d+),\n/gm, (line, _i, _q, key, name) => {
    if (spec.get(name) !== key) return line;
    if (seen.has(key)) return "";
    seen.set(key, name);
    return line;
  });
  writeFileSync(file, fixed);
}

// The ES module builds' loader (init, initSync) in a shorter form (see loader.mjs).
for (const build of ["web", "edge"]) compactLoader(join(out, build));

// Short names between each .wasm and its glue, and named imports of the
// snippet in the ES module builds (see shorten.mjs).
for (const build of ["web", "node", "edge"]) shorten(join(out, build));
for (const build of ["web", "node", "edge"]) dropUnusedStringBranch(join(out, build));
for (const build of ["web", "node", "edge"]) dropEncodeIntoFallback(join(out, build));
for (const build of ["web", "edge"]) namedSnippetImports(join(out, build));
for (const build of ["web", "edge"]) decodeWithSnippetText(join(out, build));

// `using t = new CoolaTracker(...)` frees the tracker at the end of the
// block (src/js/shell.js sets CoolaTracker.prototype[Symbol.dispose] = free
// where the engine has Symbol.dispose). A plain `[Symbol.dispose](): void`
// (as wasm-bindgen declares it on its own classes) only type-checks with the
// esnext.disposable lib: a strict project on `"lib": ["es2022", "dom"]`
// without skipLibCheck would fail to build. So the method is declared on an
// interface merged with the class, keyed by the lib's own Symbol.dispose
// where the lib has one (TypeScript 5.2+ with esnext.disposable or esnext,
// or a lib that adds it), and absent where it has none.
const DISPOSE = `/**
 * \`using tracker = new CoolaTracker(...)\` frees the tracker at the end of the block, as
 * \`free()\` does: \`[Symbol.dispose](): void\`, declared where the program's lib has
 * \`Symbol.dispose\` (TypeScript 5.2+ with "esnext.disposable" or "esnext" in \`lib\`).
 */
export interface CoolaTracker
  extends Record<SymbolConstructor extends { readonly dispose: symbol } ? SymbolConstructor["dispose"] : never, () => void> {}
`;
for (const to of ["web", "node", "edge"]) {
  const file = join(out, to, "coola_tracker.d.ts");
  let src = readFileSync(file, "utf8").replace(/^\s*\[Symbol\.dispose\]\(\): void;\n/gm, "");
  if (/Symbol\.dispose/.test(src)) throw new Error(`${file}: Symbol.dispose is declared in a form not handled here`);
  const at = src.indexOf("\nexport class CoolaTracker {");
  const end = at < 0 ? -1 : src.indexOf("\n}\n", at);
  if (end < 0) throw new Error(`${file}: no CoolaTracker class to declare [Symbol.dispose] on`);
  writeFileSync(file, src.slice(0, end + 3) + DISPOSE + src.slice(end + 3));
}

cpSync(join(tpl, "node-index.mjs"), join(out, "node", "index.mjs"));
cpSync(join(tpl, "node-index.d.mts"), join(out, "node", "index.d.mts"));
for (const f of ["workerd.js", "index.d.ts", "cooladata.js", "cooladata.d.ts", "README.md", "edge.js", "edge.d.ts"]) {
  cpSync(join(tpl, f), join(out, f));
}
// The API reference travels with the package (the README links it).
cpSync(join(root, "docs", "api.md"), join(out, "API.md"));
// The drop-in says which release it is in tracker_version.
{
  const file = join(out, "cooladata.js");
  const src = readFileSync(file, "utf8");
  if (!src.includes('"__COOLA_VERSION__"')) throw new Error("cooladata.js: no version placeholder");
  writeFileSync(file, src.replace('"__COOLA_VERSION__"', JSON.stringify(version)));
}

// The cooladata drop-in as a classic script, for the snippet's `b.src`: one
// file (glue and drop-in), the wasm fetched from beside it. A classic script
// has no import.meta.url: the script's own URL takes its place.
const { build } = await import(join(root, "tools", "node_modules", "esbuild", "lib", "main.js"));
await build({
  entryPoints: [join(out, "cooladata.js")],
  outfile: join(out, "web", "cooladata.global.js"),
  bundle: true,
  format: "iife",
  target: "es2020",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  define: { "import.meta.url": "__coolaScriptUrl" },
  banner: {
    js:
      "/* coola-tracker " + version + ": CoolaData's cooladata object (classic script) */\n" +
      "var __coolaScriptUrl=(document.currentScript&&document.currentScript.src)||location.href;",
  },
});

const pkg = JSON.parse(readFileSync(join(tpl, "package.json"), "utf8"));
pkg.version = version;
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// Every file the exports map names must be in the package.
const targets = [];
(function walk(v) {
  if (typeof v === "string") targets.push(v);
  else if (v && typeof v === "object") Object.values(v).forEach(walk);
})(pkg.exports);
for (const t of [...targets, pkg.main, pkg.module, pkg.types]) {
  if (!existsSync(join(out, t))) throw new Error(`package.json names ${t}, which is not in pkg/`);
}
console.log(`assembled pkg/ (coola-tracker ${version})`);
