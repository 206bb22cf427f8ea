// Loads the package's web build and exposes it as `window.lib` for tests
// that drive it with page.evaluate; `window.result` says when it is ready.
import init, * as lib from "/pkg/web/coola_tracker.js";

init().then(
  () => {
    window.lib = lib;
    window.result = { ok: true };
  },
  (e) => (window.result = { ok: false, error: String(e) }),
);
