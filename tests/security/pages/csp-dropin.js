// The classic-script drop-in (window.cooladata) under the same CSP.
(function () {
  var q = new URLSearchParams(location.search);
  window.cooladata.init({ app_key: q.get("app") || "csp-dropin", api_host: location.host });
  window.cooladata.trackEvent("dropin_one", { i: 1 }, function (err) {
    window.result = { ok: !err, error: err ? String(err.message) : null };
  });
})();
