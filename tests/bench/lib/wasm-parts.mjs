// What a .wasm is made of, by module, from its own bytes: each function
// body's size under the name the `name` section gives it (a build run
// through `wasm-bindgen --keep-debug` and `wasm-opt -g` keeps the names),
// grouped by the Rust module it comes from; data segments as "data". No
// dependency: reads the binary format directly.

const utf8 = new TextDecoder();

function reader(bytes) {
  let i = 0;
  const r = {
    get pos() {
      return i;
    },
    set pos(v) {
      i = v;
    },
    byte: () => bytes[i++],
    u32() {
      let v = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[i++];
        v += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) return v;
        shift += 7;
      }
    },
    name() {
      const n = r.u32();
      const s = utf8.decode(bytes.subarray(i, i + n));
      i += n;
      return s;
    },
  };
  return r;
}

/** Sections of a module: { id, name, start, end } (start: after the size). */
function sections(bytes) {
  const r = reader(bytes);
  r.pos = 8;
  const out = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    let name = "";
    if (id === 0) name = r.name();
    out.push({ id, name, start, end: start + size, size });
    r.pos = start + size;
  }
  return out;
}

/** Function sizes (bytes of each body) with their names where known, and data segment sizes. */
export function functions(bytes) {
  const secs = sections(bytes);
  let imported = 0;
  const imp = secs.find((s) => s.id === 2);
  if (imp) {
    const r = reader(bytes);
    r.pos = imp.start;
    const n = r.u32();
    for (let k = 0; k < n; k++) {
      r.name();
      r.name();
      const kind = r.byte();
      if (kind === 0) {
        r.u32();
        imported++;
      } else if (kind === 1) {
        r.byte();
        const f = r.byte();
        r.u32();
        if (f & 1) r.u32();
      } else if (kind === 2) {
        const f = r.byte();
        r.u32();
        if (f & 1) r.u32();
      } else if (kind === 3) {
        r.byte();
        r.byte();
      } else r.byte();
    }
  }
  const names = new Map();
  const nameSec = secs.find((s) => s.id === 0 && s.name === "name");
  if (nameSec) {
    const r = reader(bytes);
    r.pos = nameSec.start;
    r.name();
    while (r.pos < nameSec.end) {
      const sub = r.byte();
      const size = r.u32();
      const end = r.pos + size;
      if (sub === 1) {
        const n = r.u32();
        for (let k = 0; k < n; k++) {
          const idx = r.u32();
          names.set(idx, r.name());
        }
      }
      r.pos = end;
    }
  }
  const exportNames = new Map();
  const exp = secs.find((s) => s.id === 7);
  if (exp) {
    const r = reader(bytes);
    r.pos = exp.start;
    const n = r.u32();
    for (let k = 0; k < n; k++) {
      const name = r.name();
      const kind = r.byte();
      const idx = r.u32();
      if (kind === 0) exportNames.set(idx, name);
    }
  }
  const fns = [];
  const code = secs.find((s) => s.id === 10);
  if (code) {
    const r = reader(bytes);
    r.pos = code.start;
    const n = r.u32();
    for (let k = 0; k < n; k++) {
      const size = r.u32();
      const idx = imported + k;
      fns.push({ name: names.get(idx) || exportNames.get(idx) || `func[${idx}]`, export: exportNames.get(idx), size });
      r.pos += size;
    }
  }
  const data = [];
  const dataSec = secs.find((s) => s.id === 11);
  if (dataSec) {
    const r = reader(bytes);
    r.pos = dataSec.start;
    const n = r.u32();
    for (let k = 0; k < n; k++) {
      const flags = r.u32();
      if (flags === 2) r.u32();
      if (flags !== 1) {
        // offset expression: up to `end`
        while (r.byte() !== 0x0b);
      }
      const size = r.u32();
      data.push({ start: r.pos, size });
      r.pos += size;
    }
  }
  const other = secs
    .filter((s) => s.id !== 10 && s.id !== 11 && !(s.id === 0 && s.name !== "target_features"))
    .reduce((a, s) => a + s.size + 2, 8);
  return { fns, data, other, names: names.size, sections: secs };
}

/** The module a (demangled) function name belongs to. */
export function moduleOf(name, isExport) {
  let n = name.replace(/^<+/, "").replace(/^(dyn |&mut |&|\[)/, "");
  if (isExport && !n.includes("::")) return "export shims";
  if (/^__wbg|^__wbindgen|^__externref|wasm_bindgen::|^js_sys::|^closure|wasm_bindgen_/.test(n)) return "wasm-bindgen / js-sys runtime";
  if (/^talc::|^lock_api|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|__rg_/.test(n)) return "allocator";
  if (/^ryu::/.test(n)) return "ryu";
  const m = /^coola_tracker::(core::[a-z_]+|js::[a-z_]+|js|slim)/.exec(n);
  if (m) return m[1];
  if (/^coola_tracker::/.test(n)) return "coola_tracker (other)";
  if (/^(core|alloc)(\[[0-9a-f]+\])?::/.test(n)) return "Rust core / alloc";
  if (/^memcpy|^memset|^memmove|^memcmp|^compiler_builtins/.test(n)) return "Rust core / alloc";
  if (/^func\[/.test(n)) return "unnamed";
  return "other";
}

/** Raw bytes per module, biggest first; plus the largest functions. */
export function byModule(bytes) {
  const { fns, data, other } = functions(bytes);
  const mods = new Map();
  const add = (k, n) => mods.set(k, (mods.get(k) || 0) + n);
  for (const f of fns) add(moduleOf(f.name, f.export), f.size);
  const dataBytes = data.reduce((a, d) => a + d.size, 0);
  add("data (strings, tables)", dataBytes);
  add("module structure (types, imports, exports, tables)", other);
  const rows = [...mods.entries()].sort((a, b) => b[1] - a[1]);
  const top = [...fns].sort((a, b) => b.size - a.size);
  return { rows, top, total: rows.reduce((a, [, n]) => a + n, 0) };
}
