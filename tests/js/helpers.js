// Helpers for the wasm-bindgen tests in tests/*.rs. Plain JavaScript that
// works the same in Node 20+ and in a browser page: the tests call the crate's
// exports from Rust and use these only for what the test itself needs
// (talking to the local collector, waiting, reading the environment).

// GET a URL and parse its JSON; rejects on a non-2xx status.
export async function getJson(url) {
  const r = await fetch(url, { cache: "no-store" });
  const text = await r.text();
  if (!r.ok) throw new Error(`GET ${url} -> ${r.status}: ${text}`);
  return JSON.parse(text);
}

// POST a JSON body (as text/plain, so a browser sends no CORS preflight).
export async function postJson(url, value) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "text/plain" },
    body: JSON.stringify(value),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST ${url} -> ${r.status}: ${text}`);
  return JSON.parse(text);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// navigator.userAgent where there is one (a browser; Node 21+), else undefined.
export function userAgent() {
  return typeof navigator === "object" && navigator !== null && typeof navigator.userAgent === "string"
    ? navigator.userAgent
    : undefined;
}

// Whether this runs in a page (a document exists).
export function isPage() {
  return typeof document === "object" && document !== null;
}

// localStorage.getItem, or undefined where there is no localStorage.
export function storageGet(key) {
  try {
    if (typeof localStorage !== "object" || localStorage === null) return undefined;
    const v = localStorage.getItem(key);
    return v === null ? undefined : v;
  } catch (_) {
    return undefined;
  }
}

// A name no other test (nor an earlier run against the same collector) uses.
let counter = 0;
export function uniqueKey(prefix) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

// What `new URLSearchParams(body).get("data")` gives, or undefined.
export function formData(body) {
  const v = new URLSearchParams(body).get("data");
  return v === null ? undefined : v;
}

// A real fetch Request with the given headers.
export function makeRequest(headers) {
  return new Request("https://example.com/page", { headers });
}

// An object shaped like a Request whose Headers were built without the
// request guard (a browser drops User-Agent from a Request's headers).
export function requestLike(headers) {
  return { headers: new Headers(headers) };
}

// The name of a value's constructor ("TypeError", "RangeError", "Error"...).
export function constructorName(v) {
  return v !== null && typeof v === "object" && v.constructor ? v.constructor.name : typeof v;
}

export function isError(v) {
  return v instanceof Error;
}

// An object whose `boom` property getter throws.
// An options bag whose `name` getter throws.
export function throwingOption(name) {
  return Object.defineProperty({}, name, {
    enumerable: true,
    get() {
      throw new Error("option getter exploded");
    },
  });
}

export function throwingGetter() {
  return Object.defineProperty({ event_name: "e", user_id: "u", event_timestamp_epoch: 1420452000000 }, "boom", {
    enumerable: true,
    get() {
      throw new Error("getter exploded");
    },
  });
}

// An event with a Symbol-keyed property.
export function withSymbolKey() {
  return { event_name: "e", user_id: "u", event_timestamp_epoch: 1420452000000, [Symbol("s")]: 1 };
}

// A function value, to pass where a property value is expected.
export function aFunction() {
  return function f() {};
}

// A BigInt value.
export function aBigInt() {
  return BigInt(12);
}

// Fires the page's `pagehide` event, as when the user closes the tab.
export function firePagehide() {
  if (typeof dispatchEvent === "function" && typeof Event === "function") dispatchEvent(new Event("pagehide"));
}

// localStorage keys that start with `prefix`.
export function storageKeysWith(prefix) {
  try {
    const out = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k !== null && k.startsWith(prefix)) out.push(k);
    }
    return out;
  } catch (_) {
    return [];
  }
}
