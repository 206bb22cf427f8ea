// Hostile JavaScript values for tests/bad_input.rs: what a careless or
// malicious caller can hand to `track` / `validateEvent`. Plain JavaScript
// that works the same in Node 20+ and in a browser page. Every builder
// returns a fresh value; nothing here is shared between tests.

// ---------------------------------------------------------------- prototypes

// What Object.prototype, Array.prototype and Function.prototype hold when
// this module loads, to prove later that nothing was added or replaced.
function snapshot(obj) {
  const out = new Map();
  for (const k of Reflect.ownKeys(obj)) {
    const d = Object.getOwnPropertyDescriptor(obj, k);
    out.set(k, d && ("value" in d ? d.value : [d.get, d.set]));
  }
  return out;
}
const PROTOS = [
  ["Object.prototype", Object.prototype],
  ["Array.prototype", Array.prototype],
  ["Function.prototype", Function.prototype],
  ["String.prototype", String.prototype],
];
const BEFORE = PROTOS.map(([name, obj]) => [name, obj, snapshot(obj), Object.getPrototypeOf(obj)]);

// "" when no prototype was polluted since this module loaded, else what
// changed.
export function pollution() {
  const out = [];
  for (const probe of ["polluted", "isAdmin", "x"]) {
    if ({}[probe] !== undefined) out.push(`({}).${probe} is ${String({}[probe])}`);
  }
  for (const [name, obj, before, proto] of BEFORE) {
    if (Object.getPrototypeOf(obj) !== proto) out.push(`${name}'s prototype changed`);
    const now = snapshot(obj);
    for (const [k, v] of now) {
      if (!before.has(k)) out.push(`${name}.${String(k)} was added`);
      else {
        const b = before.get(k);
        const same = Array.isArray(b) ? Array.isArray(v) && b[0] === v[0] && b[1] === v[1] : b === v;
        if (!same) out.push(`${name}.${String(k)} was replaced`);
      }
    }
    for (const k of before.keys()) if (!now.has(k)) out.push(`${name}.${String(k)} was removed`);
  }
  return out.join("; ");
}

// Whether `o`'s prototype is Object.prototype (a plain object).
export function hasPlainPrototype(o) {
  return o !== null && typeof o === "object" && Object.getPrototypeOf(o) === Object.prototype;
}

// Whether `o` has an own property named `k` (including "__proto__").
export function hasOwn(o, k) {
  return o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k);
}

// An object whose own, enumerable property "__proto__" holds `value` (what
// JSON.parse makes of {"__proto__": ...}, built with defineProperty).
export function ownProto(value) {
  return Object.defineProperty({}, "__proto__", { value, enumerable: true, writable: true, configurable: true });
}

// An object literal whose __proto__ (the real prototype) carries properties:
// inherited, not own, so not the event's.
export function inheritedProps() {
  return { __proto__: { inherited: "from the prototype", polluted: "yes" }, own: "mine" };
}

// ---------------------------------------------------------------- values

export function aFunction() {
  return function f() {};
}
export function anArrowFunction() {
  return () => 1;
}
export function aSymbol() {
  return Symbol("s");
}
export function aBigInt() {
  return 12345678901234567890n;
}
export function aDate() {
  return new Date(Date.UTC(2015, 0, 5, 10));
}
export function anInvalidDate() {
  return new Date(NaN);
}
export function aMap() {
  return new Map([["a", 1]]);
}
export function aRegExp() {
  return /x/g;
}
export function aBoxedString() {
  return new String("boxed");
}
export function aTypedArray() {
  return new Uint8Array([1, 2, 3]);
}
export function aPromise() {
  return Promise.resolve(1);
}
class Point {
  constructor() {
    this.x = 1;
    this.y = 2;
  }
}
export function classInstance() {
  return new Point();
}
// A class instance whose toString / valueOf / toJSON throw if anyone calls them.
export function trappedInstance() {
  const o = new Point();
  for (const m of ["toString", "valueOf", "toJSON"]) {
    o[m] = () => {
      throw new Error(`${m} must not be called`);
    };
  }
  o[Symbol.toPrimitive] = () => {
    throw new Error("Symbol.toPrimitive must not be called");
  };
  return o;
}
// A Date whose getTime throws.
export function throwingDate() {
  const d = new Date(Date.UTC(2015, 0, 5, 10));
  d.getTime = () => {
    throw new Error("getTime exploded");
  };
  return d;
}
// A Proxy (of a plain object) used as a value: reads as an object.
export function quietProxy() {
  return new Proxy({ a: 1 }, {});
}
// A Proxy used as a value whose every trap throws (even the prototype lookup
// behind `instanceof`).
export function hostileProxyValue() {
  const boom = (what) => () => {
    throw new Error(`proxy ${what} trap exploded`);
  };
  return new Proxy(
    {},
    {
      get: boom("get"),
      getPrototypeOf: boom("getPrototypeOf"),
      ownKeys: boom("ownKeys"),
      has: boom("has"),
      getOwnPropertyDescriptor: boom("getOwnPropertyDescriptor"),
    },
  );
}

// ---------------------------------------------------------------- properties objects

// A Proxy whose `get` trap throws: Object.keys works, reading a value throws.
export function throwingProxy() {
  return new Proxy(
    { a: 1, b: "two" },
    {
      get(_t, k) {
        throw new Error(`proxy get trap exploded on ${String(k)}`);
      },
    },
  );
}

// A Proxy whose `ownKeys` trap throws: even listing the properties throws.
export function ownKeysThrowingProxy() {
  return new Proxy(
    { a: 1 },
    {
      ownKeys() {
        throw new Error("proxy ownKeys trap exploded");
      },
    },
  );
}

// A Proxy that lies: ownKeys lists names the target does not have.
export function lyingProxy() {
  return new Proxy(
    {},
    {
      ownKeys: () => ["ghost"],
      getOwnPropertyDescriptor: () => ({ value: "boo", enumerable: true, configurable: true, writable: true }),
      get: (_t, k) => (k === "ghost" ? "boo" : undefined),
    },
  );
}

// `base` (an object) plus an enumerable property `name` whose getter throws
// `thrown()`.
function withThrowingGetter(base, name, thrown) {
  return Object.defineProperty(base, name, {
    enumerable: true,
    configurable: true,
    get() {
      throw thrown();
    },
  });
}

// What a getter throws: an Error, a string, a Symbol, undefined, a Proxy,
// an Error whose `message` getter itself throws...
const THROWN = {
  error: () => new Error("getter exploded"),
  string: () => "a thrown string",
  symbol: () => Symbol("thrown"),
  undefined: () => undefined,
  null: () => null,
  number: () => 42,
  object: () => ({ message: "plain object" }),
  hugeString: () => "x".repeat(1 << 20),
  // An Error whose own `message` getter throws when read.
  messageThrows: () => {
    const e = new Error();
    Object.defineProperty(e, "message", {
      get() {
        throw new Error("reading message exploded");
      },
    });
    return e;
  },
  // A Proxy of an Error whose every property read throws.
  errorProxy: () =>
    new Proxy(new Error("proxied"), {
      get() {
        throw new Error("error proxy get trap exploded");
      },
    }),
};
export const THROWN_KINDS = Object.keys(THROWN);
export function thrownKinds() {
  return THROWN_KINDS.slice();
}

// Properties with one property `boom` whose getter throws a value of `kind`.
export function throwingGetterProps(kind) {
  return withThrowingGetter({ ok: 1 }, "boom", THROWN[kind]);
}

// The same on a full event (for validateEvent).
export function throwingGetterEvent(kind) {
  return withThrowingGetter(
    { event_name: "e", user_id: "u", event_timestamp_epoch: 1420452000000 },
    "boom",
    THROWN[kind],
  );
}

// Properties whose getter counts its calls and has side effects: it adds a
// property, deletes another and changes a third while the properties are
// read. `__calls` (not enumerable) tells how often it ran.
export function sideEffectProps() {
  let calls = 0;
  const o = { first: "a", victim: "deleted while read", later: "b" };
  Object.defineProperty(o, "counted", {
    enumerable: true,
    get() {
      calls += 1;
      delete o.victim;
      o.added = "added while read";
      o.later = { now: "an object" };
      return `call ${calls}`;
    },
  });
  Object.defineProperty(o, "__calls", { enumerable: false, get: () => calls });
  return o;
}

// Properties whose one getter calls `f()` (e.g. the tracker itself) and
// returns what it returned when that is a string.
export function getterCalling(f) {
  let calls = 0;
  const o = {};
  Object.defineProperty(o, "reentrant", {
    enumerable: true,
    get() {
      calls += 1;
      let r;
      try {
        r = f();
      } catch (e) {
        r = `threw ${e && e.code}`;
      }
      return typeof r === "string" ? r : String(typeof r);
    },
  });
  Object.defineProperty(o, "__calls", { enumerable: false, get: () => calls });
  return o;
}

export function frozenProps() {
  return Object.freeze({ plan: "pro", n: 3, ok: true });
}

export function frozenEvent() {
  return Object.freeze({ event_name: "frozen", user_id: "u", event_timestamp_epoch: 1420452000000, k: "v" });
}

export function nullPrototypeProps() {
  const o = Object.create(null);
  o.plan = "pro";
  o.n = 1;
  return o;
}

// Properties with a Symbol key besides a normal one.
export function symbolKeyed() {
  return { ok: 1, [Symbol("s")]: "hidden" };
}

// `n` properties `p0`..`p<n-1>`, each a string of `len` "x" (len 0: the number 1).
export function manyProps(n, len) {
  const o = {};
  const v = len > 0 ? "x".repeat(len) : 1;
  for (let i = 0; i < n; i++) o[`p${i}`] = v;
  return o;
}

// A string of `n` UTF-16 units.
export function bigString(n) {
  return "x".repeat(n);
}

// ---------------------------------------------------------------- strings

export const LONE = "a\uD800b\uDFFFc\uD83D";
export function loneSurrogates() {
  return LONE;
}
// The same with each lone surrogate as U+FFFD (what TextEncoder writes).
export function loneSurrogatesReplaced() {
  return "a\uFFFDb\uFFFDc\uFFFD";
}
export function nulString() {
  return "a\u0000b\u0000\u0000c\u0001\u001f\u007f";
}

// ---------------------------------------------------------------- errors and free()

// Every own property (enumerable or not, message and stack included) of an
// error and of its prototype chain below Object.prototype, as text; and the
// error's String().
export function serializeError(e) {
  const out = [];
  try {
    out.push(String(e));
  } catch (_) {}
  let o = e;
  while (o !== null && typeof o === "object" && o !== Object.prototype) {
    for (const k of Reflect.ownKeys(o)) {
      let v;
      try {
        v = o[k];
      } catch (_) {
        v = "<getter threw>";
      }
      if (typeof v === "function") continue;
      try {
        out.push(`${String(k)}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
      } catch (_) {
        out.push(`${String(k)}=<unserializable>`);
      }
    }
    o = Object.getPrototypeOf(o);
  }
  return out.join("\n");
}

// What calling `f` did: {ok, value} or {threw, isError, name, message}.
function outcome(f) {
  try {
    const value = f();
    if (value && typeof value.then === "function") value.then(undefined, () => {});
    return { ok: true, value: typeof value === "object" ? typeof value : value };
  } catch (e) {
    return {
      threw: true,
      isError: e instanceof Error,
      name: e && e.constructor ? e.constructor.name : typeof e,
      message: e && typeof e.message === "string" ? e.message : String(e),
    };
  }
}

// Frees the JS CoolaTracker `t`, then calls every method on it; returns
// [[what, outcome]...] as JSON text.
export function callAfterFree(t) {
  const out = [];
  out.push(["free()", outcome(() => t.free())]);
  const calls = {
    "track()": () => t.track("after_free", { a: 1 }),
    "flush()": () => t.flush(),
    "shutdown()": () => t.shutdown(),
    "setUserId()": () => t.setUserId("u"),
    pending: () => t.pending,
    closed: () => t.closed,
    userId: () => t.userId,
    "free() again": () => t.free(),
  };
  for (const [k, f] of Object.entries(calls)) out.push([k, outcome(f)]);
  return JSON.stringify(out);
}

// Calls t.free() from wherever this runs (e.g. inside onError); what it did.
export function freeNow(t) {
  return JSON.stringify(outcome(() => t.free()));
}

// Uncaught errors seen since `watchUncaught()`: a microtask or timer that
// calls into a freed tracker would show up here.
const uncaught = [];
let watching = false;
export function watchUncaught() {
  if (watching) return;
  watching = true;
  if (typeof process === "object" && process && typeof process.on === "function") {
    process.on("uncaughtException", (e) => uncaught.push(String(e && e.message)));
    process.on("unhandledRejection", (e) => uncaught.push(String(e && e.message)));
  }
  if (typeof addEventListener === "function") {
    addEventListener("error", (ev) => uncaught.push(String(ev.message)));
    addEventListener("unhandledrejection", (ev) => uncaught.push(String(ev.reason && ev.reason.message)));
  }
}
// The uncaught errors seen since the last call (drains the list).
export function uncaughtErrors() {
  return uncaught.splice(0, uncaught.length);
}

// A fresh object `{ key: value }` (any key, any value), for keys that Rust
// string literals make awkward.
export function objectWith(key, value) {
  const o = {};
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  return o;
}

// `new URL(u).hostname`, or "" when it does not parse: what fetch would
// connect to.
export function hostnameOf(u) {
  try {
    return new URL(u).hostname;
  } catch (_) {
    return "";
  }
}

// Properties with a lone surrogate in a value and in a key.
export function loneSurrogateProps() {
  return { text: LONE, [LONE]: "lone key" };
}

// A revoked Proxy: every operation on it throws a TypeError, even
// Array.isArray.
export function revokedProxy() {
  const { proxy, revoke } = Proxy.revocable({ a: 1 }, {});
  revoke();
  return proxy;
}

// A Proxy of a Date: `instanceof Date` holds, but Date methods called on it
// throw ("this is not a Date object").
export function proxyOfDate() {
  return new Proxy(new Date(Date.UTC(2015, 0, 5, 10)), {});
}

// A Proxy of an array whose every read (length, indexes) throws;
// Array.isArray still says true.
export function throwingArrayProxy() {
  return new Proxy([{ event_name: "e" }], {
    get(_t, k) {
      throw new Error(`array proxy get trap exploded on ${String(k)}`);
    },
  });
}

// An array whose element 0 is a getter that throws.
export function arrayWithThrowingIndex() {
  const a = [{}];
  Object.defineProperty(a, 0, {
    get() {
      throw new Error("index getter exploded");
    },
  });
  return a;
}

// Calls `f()` `n` times, catching whatever it throws; stops at the first
// WebAssembly trap. Returns JSON text {calls, threw, trapped, first, trap}.
export function repeatCatching(n, f) {
  const out = { calls: 0, threw: 0, trapped: false, first: null, trap: null };
  for (let i = 0; i < n; i++) {
    out.calls += 1;
    try {
      f();
    } catch (e) {
      out.threw += 1;
      if (out.first === null) out.first = `${e && e.constructor && e.constructor.name}: ${e && e.message}`;
      if (typeof WebAssembly === "object" && e instanceof WebAssembly.RuntimeError) {
        out.trapped = true;
        out.trap = String(e.message);
        break;
      }
    }
  }
  return JSON.stringify(out);
}
