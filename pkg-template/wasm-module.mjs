// Reading and rewriting the names of a .wasm's import and export sections,
// for the build steps that rename what the module and its glue call each
// other (pkg-template/shorten.mjs, tools/wasm-names.mjs). Every other section
// is copied byte for byte. The readers below are shared with
// tools/reorder.mjs.

/** An unsigned LEB128 at `pos`: [value, next position]; throws past the end. */
export function readU32(b, pos) {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (pos >= b.length) throw new Error("wasm: a number runs past the end");
    const byte = b[pos++];
    v += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [v, pos];
    shift += 7;
  }
}

/** `n` as an unsigned LEB128. */
export function u32(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const nameBytes = (s) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);

function readName(b, pos) {
  const [n, p] = readU32(b, pos);
  return [utf8.decode(b.subarray(p, p + n)), p + n];
}

/** Where a table's or memory's limits that start at `p` end. */
export function limitsEnd(b, p) {
  const flags = b[p++];
  p = readU32(b, p)[1];
  return flags & 1 ? readU32(b, p)[1] : p;
}

/** The module's sections, each as { id, start, end } of its payload. */
export function sections(b) {
  if (b.readUInt32LE(0) !== 0x6d736100 || b.readUInt32LE(4) !== 1) throw new Error("wasm: not a version 1 module");
  const out = [];
  let pos = 8;
  while (pos < b.length) {
    const id = b[pos];
    const [size, start] = readU32(b, pos + 1);
    out.push({ id, start, end: start + size });
    pos = start + size;
  }
  return out;
}

/** The bytes of an import's or export's descriptor, from `pos`. */
function descEnd(b, pos, isImport) {
  const kind = b[pos++];
  if (!isImport) return readU32(b, pos)[1];
  const limits = (p) => limitsEnd(b, p);
  switch (kind) {
    case 0: // function: type index
      return readU32(b, pos)[1];
    case 1: // table: element type, limits
      return limits(pos + 1);
    case 2: // memory: limits
      return limits(pos);
    case 3: // global: value type, mutability
      return pos + 2;
    case 4: // tag: attribute, type index
      return readU32(b, pos + 1)[1];
    default:
      throw new Error(`wasm: import of unknown kind ${kind}`);
  }
}

/**
 * Renames in the module: `rename.module(module)` gives an import module's
 * new name, `rename.import(module, name)` an import's, `rename.export(name,
 * kind)` an export's, or null to drop that export. Returns the new bytes.
 */
export function renameWasm(b, rename) {
  if (b.readUInt32LE(0) !== 0x6d736100 || b.readUInt32LE(4) !== 1) throw new Error("wasm: not a version 1 module");
  const parts = [b.subarray(0, 8)];
  let pos = 8;
  while (pos < b.length) {
    const id = b[pos];
    const [size, start] = readU32(b, pos + 1);
    const end = start + size;
    if (id === 2 || id === 7) {
      const isImport = id === 2;
      let [count, p] = readU32(b, start);
      const body = [];
      let kept = 0;
      for (let k = 0; k < count; k++) {
        let module;
        if (isImport) [module, p] = readName(b, p);
        let name;
        [name, p] = readName(b, p);
        const dEnd = descEnd(b, p, isImport);
        const to = isImport ? null : rename.export(name, b[p]);
        if (isImport) body.push(nameBytes(rename.module(module)), nameBytes(rename.import(module, name)));
        else if (to !== null) body.push(nameBytes(to));
        if (isImport || to !== null) {
          body.push(b.subarray(p, dEnd));
          kept++;
        }
        p = dEnd;
      }
      if (p !== end) throw new Error(`wasm: section ${id} was not read to its end`);
      const content = Buffer.concat([u32(kept), ...body]);
      parts.push(Buffer.from([id]), u32(content.length), content);
    } else {
      parts.push(b.subarray(pos, end));
    }
    pos = end;
  }
  return Buffer.concat(parts);
}

/**
 * The import and export names of a module, in order, each with its kind
 * (0 function, 1 table, 2 memory, 3 global, 4 tag).
 */
export function listNames(b) {
  const imports = [];
  const exports = [];
  for (const { id, start } of sections(b)) {
    if (id === 2 || id === 7) {
      let [count, p] = readU32(b, start);
      for (let k = 0; k < count; k++) {
        let module;
        if (id === 2) [module, p] = readName(b, p);
        let name;
        [name, p] = readName(b, p);
        const kind = b[p];
        p = descEnd(b, p, id === 2);
        (id === 2 ? imports : exports).push({ module, name, kind });
      }
    }
  }
  return { imports, exports };
}

/** `s` as a literal in a RegExp. */
export const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

