// TypeScript: the installed package's types, checked with `tsc --strict`
// under the module resolution of bundlers ("bundler": Vite, webpack,
// wrangler) and of Node ("nodenext", ESM and CommonJS). tests/types/good.ts,
// cooladata.ts, edge.ts (and good.cts for Node, using.ts where the lib has
// Symbol.dispose) must pass; every line of
// tests/types/bad.ts marked `// error: TSnnnn` must report that error, and
// no other line may report anything.
//
// Every ```js example of README.md, as written (the blocks readme.test.mjs,
// readme-privacy.test.mjs and tests/edge run), must pass too, each as the
// file a user pastes it into: the Node example as a Node ESM script
// (nodenext, `process.env` typed as @types/node types it); a page's module
// or a Worker that needs no annotation as a .ts file (bundler, lib dom); a
// Worker whose handler is typed by a JSDoc line as the .js file it is, with
// `checkJs` (a .ts file ignores JSDoc types, and plain JavaScript cannot type
// a handler's parameters otherwise). The tools install neither @types/node
// nor @cloudflare/workers-types: what the examples use of them is declared
// here, as those packages declare it.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, TOOLS, exec, project, readmeAllBlocks, readmeBlock, readmeBlocks } from "./helpers.mjs";

const TYPES = join(ROOT, "tests", "types");
const TSC = join(TOOLS, "typescript", "bin", "tsc");
// What the README's Node example uses of Node's own globals, declared as
// @types/node declares them (NodeJS.ProcessEnv: every value string | undefined);
// the tools install no @types/node.
const NODE_GLOBALS = "declare var process: { env: { [key: string]: string | undefined } };\n";
// What the README's Worker example uses of Cloudflare's own types (its JSDoc
// names `ExecutionContext`), declared as @cloudflare/workers-types and
// `wrangler types` declare that global interface (less its `props`).
const WORKER_GLOBALS = "interface ExecutionContext {\n  waitUntil(promise: Promise<any>): void;\n  passThroughOnException(): void;\n}\n";

// The README's other examples: file -> the heading and the indexes of its
// ```js blocks there (one file; the beforeSend example goes on from the
// consent example's module, which imports CoolaTracker). The .js files are
// checked with checkJs (see the top).
const README_FILES = {
  "readme-web.ts": ["## In a web page", [0]],
  "readme-worker.js": ["## In a Cloudflare Worker", [0]],
  "readme-edge-worker.ts": ["## At the edge: a first-party collector", [0]],
  "readme-edge-page.ts": ["## At the edge: a first-party collector", [1]],
  "readme-consent.ts": ["## Consent, sessions, page views and hooks", [0, 1]],
  "readme-cooladata.ts": ["## Coming from CoolaData's JavaScript SDK", [0]],
  "readme-scale-worker.ts": ["## At the edge, at scale", [0]],
  "readme-scale-shards.js": ["## At the edge, at scale", [1]],
};
const NODE_HEADING = "## In Node.js (20+)";
const readmeFile = (heading, indexes) => {
  const blocks = readmeBlocks(heading);
  return indexes.map((i) => {
    assert.ok(blocks[i], `README.md has a ${i + 1}. \`\`\`js block under "${heading}"`);
    return blocks[i];
  }).join("\n");
};

let app;

before(async () => {
  const files = {};
  for (const f of readdirSync(TYPES)) if (/\.c?ts$/.test(f)) files[f] = readFileSync(join(TYPES, f), "utf8");
  files["readme-node.mts"] = readmeBlock(NODE_HEADING);
  files["node-globals.d.ts"] = NODE_GLOBALS;
  for (const [file, [heading, indexes]] of Object.entries(README_FILES)) files[file] = readmeFile(heading, indexes);
  files["worker-globals.d.ts"] = WORKER_GLOBALS;
  app = await project(files);
  for (const mode of Object.keys(MODES)) check(mode); // every tsc run at once
  readme();
  readmeOthers();
});
after(() => app?.remove());

// "bundler" as Vite's and wrangler's templates set it up (skipLibCheck on);
// "strict-lib" the same with skipLibCheck off (tsc's default) on plain
// es2022 + dom, which checks the package's own .d.ts files without the lib of
// Symbol.dispose; "nodenext" checks them too, with esnext.disposable in;
// "disposable" is "strict-lib" with esnext.disposable in: `using` of the web
// build's types (using.ts).
const MODES = {
  bundler: { module: "esnext", moduleResolution: "bundler", lib: ["es2022", "dom"], skipLibCheck: true },
  "strict-lib": { module: "esnext", moduleResolution: "bundler", lib: ["es2022", "dom"], skipLibCheck: false },
  nodenext: {
    module: "nodenext",
    moduleResolution: "nodenext",
    lib: ["es2022", "esnext.disposable", "dom"],
    skipLibCheck: false,
  },
  disposable: {
    module: "esnext",
    moduleResolution: "bundler",
    lib: ["es2022", "esnext.disposable", "dom"],
    skipLibCheck: false,
  },
};

async function tsc(mode, files, label = mode, options = {}) {
  const name = `tsconfig.${label}.json`;
  writeFileSync(
    join(app.dir, name),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "es2022",
        types: [],
        ...MODES[mode],
        ...options,
      },
      files,
    }),
  );
  const r = await exec(process.execPath, [TSC, "-p", name, "--pretty", "false"], { cwd: app.dir, timeout: 60_000 });
  const errors = [];
  for (const m of r.stdout.matchAll(/^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/gm)) {
    errors.push({ file: m[1], line: Number(m[2]), code: m[4], message: m[5] });
  }
  return { ...r, errors };
}

// The README's Node example as a Node user's ESM script (nodenext: the
// package's Node types).
let readmeRun;
const readme = () => (readmeRun ??= tsc("nodenext", ["readme-node.mts", "node-globals.d.ts"], "readme-node"));
// The others in one run: pages and Workers as bundlers (Vite, wrangler) resolve them.
let othersRun;
const readmeOthers = () =>
  (othersRun ??= tsc("bundler", [...Object.keys(README_FILES), "worker-globals.d.ts"], "readme-others", {
    allowJs: true,
    checkJs: true,
  }));

// One tsc run per mode over every file; the tests read its errors by file.
const runs = {};
function check(mode) {
  const files = [
    "good.ts",
    "cooladata.ts",
    "edge.ts",
    "bad.ts",
    ...(mode === "nodenext" ? ["good.cts"] : []),
    ...(MODES[mode].lib.includes("esnext.disposable") ? ["using.ts"] : []),
  ];
  return (runs[mode] ??= tsc(mode, files));
}

for (const mode of Object.keys(MODES)) {
  test(`${mode}: the right uses type-check`, async () => {
    const r = await check(mode);
    const wrong = r.errors.filter((e) => e.file !== "bad.ts");
    assert.deepEqual(wrong.map((e) => `${e.file}(${e.line}): ${e.code} ${e.message}`), []);
    assert.ok(r.errors.length > 0 || r.code === 0, r.stdout + r.stderr); // tsc ran and said something sensible
  });

  test(`${mode}: each typical mistake is an error`, async () => {
    const src = readFileSync(join(TYPES, "bad.ts"), "utf8").split("\n");
    const expected = new Map();
    src.forEach((line, i) => {
      const m = /\/\/ error: (TS\d+)\s*$/.exec(line);
      if (m) expected.set(i + 1, m[1]);
    });
    assert.ok(expected.size >= 20, "bad.ts lists its mistakes");
    const r = await check(mode);
    assert.notEqual(r.code, 0, "tsc must fail on bad.ts");
    const got = new Map();
    for (const e of r.errors.filter((x) => x.file === "bad.ts")) {
      got.set(e.line, [...(got.get(e.line) || []), `${e.code} ${e.message}`]);
    }
    const problems = [];
    for (const [line, code] of expected) {
      const here = got.get(line) || [];
      if (!here.some((s) => s.startsWith(code + " "))) {
        problems.push(`line ${line} (${src[line - 1].trim()}): expected ${code}, got ${here.join(" | ") || "no error"}`);
      }
    }
    for (const [line, msgs] of got) {
      if (!expected.has(line)) problems.push(`line ${line} (${src[line - 1].trim()}): unexpected ${msgs.join(" | ")}`);
    }
    assert.deepEqual(problems, []);
  });
}

test("the README's Node example type-checks with tsc --strict (nodenext), as written", async () => {
  const r = await readme();
  assert.deepEqual(
    r.errors.map((e) => `${e.file}(${e.line}): ${e.code} ${e.message}`),
    [],
    `README.md, "${NODE_HEADING}":\n${readmeBlock(NODE_HEADING)}`,
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

for (const [file, [heading, indexes]] of Object.entries(README_FILES)) {
  test(`the README's "${heading}" example${indexes.length > 1 ? "s" : ` (block ${indexes[0] + 1})`} type-check with tsc --strict as ${file}`, async () => {
    const r = await readmeOthers();
    assert.deepEqual(
      r.errors.filter((e) => e.file === file).map((e) => `${e.file}(${e.line}): ${e.code} ${e.message}`),
      [],
      `README.md, "${heading}":\n${readmeFile(heading, indexes)}`,
    );
  });
}

test("the README examples' tsc run ran, and reports nothing else", async () => {
  const r = await readmeOthers();
  assert.deepEqual(r.errors.map((e) => `${e.file}(${e.line}): ${e.code} ${e.message}`), []);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

// An example added to the README without being added here would go unchecked.
test("every ```js block of the README is type-checked here", () => {
  const checked = new Set([readmeBlock(NODE_HEADING)]);
  for (const [heading, indexes] of Object.values(README_FILES)) {
    for (const i of indexes) checked.add(readmeBlocks(heading)[i]);
  }
  const missed = readmeAllBlocks().filter((b) => !checked.has(b));
  assert.deepEqual(missed, [], "README blocks no test type-checks");
  assert.ok(readmeAllBlocks().length >= 10, "the README's examples were found");
});
