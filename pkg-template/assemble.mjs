// Assembles the npm package in pkg/ from wasm-pack's two builds:
// target/pkg-web (browsers, bundlers, workerd) and target/pkg-node (Node).
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "pkg");
const tpl = join(root, "pkg-template");
const version = /^version\s*=\s*"([^"]+)"/m.exec(readFileSync(join(root, "Cargo.toml"), "utf8"))[1];

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
for (const [from, to, type] of [
  ["target/pkg-web", "web", "module"],
  ["target/pkg-node", "node", "commonjs"],
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
  const names = [...src.matchAll(/^export function (\w+)/gm)].map((m) => m[1]);
  src = src.replace(/^export function /gm, "function ");
  if (/^export /m.test(src)) throw new Error(`${file}: only 'export function' is supported in snippets`);
  writeFileSync(file, `"use strict";\n${src}\nmodule.exports = { ${names.join(", ")} };\n`);
}

cpSync(join(tpl, "node-index.mjs"), join(out, "node", "index.mjs"));
for (const f of ["workerd.js", "index.d.ts", "README.md"]) cpSync(join(tpl, f), join(out, f));
const pkg = JSON.parse(readFileSync(join(tpl, "package.json"), "utf8"));
pkg.version = version;
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
console.log(`assembled pkg/ (coola-tracker ${version})`);
