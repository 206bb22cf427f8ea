// A shorter copy of the loader that wasm-bindgen (0.2.130) writes at the end
// of the ES module glue (web, edge): init() and initSync() with the same
// arguments, results, errors and warnings, in about half the code (47 B of
// gzip in the browser bundle). The loader is replaced only where it is
// exactly wasm-bindgen's text kept in loader-wasm-bindgen.txt; any other
// fails the build, so a new wasm-bindgen's loader is never replaced unread.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// wasm-bindgen's loader after __wbg_finalize_init, as it writes it.
const LOADER = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "loader-wasm-bindgen.txt"), "utf8");

// The same: `bag` reads the one-object form of each function's argument
// (warning, as wasm-bindgen's does, for the deprecated others); a Response
// is instantiated as it streams, and from its bytes when the server gave
// the wrong MIME type; init()'s promise is kept, and forgotten if it fails.
const COMPACT = String.raw`function bag(m, k, what) {
    if (m !== undefined) {
        if (Object.getPrototypeOf(m) === Object.prototype) m = m[k];
        else console.warn('using deprecated parameters for ' + what + '; pass a single object instead');
    }
    return m;
}

function initSync(module) {
    if (wasm !== undefined) return wasm;
    module = bag(module, 'module', '${"`initSync()`"}');
    const imports = __wbg_get_imports();
    if (!(module instanceof WebAssembly.Module)) module = new WebAssembly.Module(module);
    return __wbg_finalize_init(new WebAssembly.Instance(module, imports));
}

async function __wbg_load(m) {
    m = bag(m, 'module_or_path', 'the initialization function');
    if (m === undefined) m = new URL('coola_tracker_bg.wasm', import.meta.url);
    const imports = __wbg_get_imports();
    if (typeof m === 'string' || (typeof Request === 'function' && m instanceof Request) || (typeof URL === 'function' && m instanceof URL)) m = fetch(m);
    m = await m;
    if (typeof Response === 'function' && m instanceof Response) {
        if (!m.ok) throw new Error(${"`failed to fetch Wasm: ${m.status} ${m.statusText} fetching '${m.url}'`"});
        if (typeof WebAssembly.instantiateStreaming === 'function') {
            try {
                return __wbg_finalize_init((await WebAssembly.instantiateStreaming(m, imports)).instance);
            } catch (e) {
                if (!['basic', 'cors', 'default'].includes(m.type) || m.headers.get('Content-Type') === 'application/wasm') throw e;
                console.warn("${"`WebAssembly.instantiateStreaming`"} failed because your server does not serve Wasm with ${"`application/wasm`"} MIME type. Falling back to ${"`WebAssembly.instantiate`"} which is slower. Original error:\n", e);
            }
        }
        m = await m.arrayBuffer();
    }
    const r = await WebAssembly.instantiate(m, imports);
    return __wbg_finalize_init(r instanceof WebAssembly.Instance ? r : r.instance);
}

let __wbg_init_promise;
async function __wbg_init(module_or_path) {
    if (wasm !== undefined) return wasm;
    if (__wbg_init_promise === undefined) {
        __wbg_init_promise = __wbg_load(module_or_path);
        __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
    }
    return __wbg_init_promise;
}

export { initSync, __wbg_init as default };
`;

// __wbg_finalize_init as wasm-bindgen writes it: what it does beyond keeping
// the exports (the memory views reset, the start function) stays as is; the
// instance and module it also keeps are read by nothing else (checked).
const FINALIZE = /^let wasmModule, wasmInstance, wasm;\nfunction __wbg_finalize_init\(instance, module\) \{\n {4}wasmInstance = instance;\n {4}wasm = instance\.exports;\n {4}wasmModule = module;\n((?: {4}[^\n]*\n)*?) {4}return wasm;\n\}\n\n/m;

/** Replaces the loader of the ES module glue in `dir` (before `shorten`). */
export function compactLoader(dir) {
  const file = join(dir, "coola_tracker.js");
  const glue = readFileSync(file, "utf8");
  const m = FINALIZE.exec(glue);
  if (!m) throw new Error(`${file}: __wbg_finalize_init is not in the form loader.mjs handles`);
  const at = m.index + m[0].length;
  if (glue.slice(at, at + LOADER.length) !== LOADER) throw new Error(`${file}: the loader is not the one of loader-wasm-bindgen.txt`);
  const others = glue.slice(0, m.index) + glue.slice(at + LOADER.length);
  if (/wasmModule|wasmInstance/.test(others)) throw new Error(`${file}: the glue reads wasmModule or wasmInstance`);
  const finalize = `let wasm;\nfunction __wbg_finalize_init(instance) {\n    wasm = instance.exports;\n${m[1]}    return wasm;\n}\n\n`;
  writeFileSync(file, glue.slice(0, m.index) + finalize + COMPACT + glue.slice(at + LOADER.length));
}
