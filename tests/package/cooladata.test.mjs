// The cooladata drop-in: a page with CoolaData's own snippet, its script URL
// swapped for coola-tracker's (the classic script web/cooladata.global.js,
// or the ES module cooladata.js), keeps its calls: init with app_key,
// api_host, user_id, session_id, track_pageload; trackEvent with a callback;
// trackEventLater (queued, sent by flush); setConfig; and the calls made
// before the script had loaded. Events go to /v1/{app_key}/track.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FIXTURES, chromium, newPage, project, startCollector, waitFor } from "./helpers.mjs";

let app;
let collector;
let browser;

before(async () => {
  app = await project();
  [collector, browser] = await Promise.all([
    startCollector({ port: 0, static: join(FIXTURES, "pages"), mounts: { "/pkg": app.pkgDir } }),
    chromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await collector?.close();
  app?.remove();
});

const names = (events) => events.map((e) => e.event_name).sort();

for (const loader of ["classic", "module"]) {
  test(`${loader} script in place of CoolaData's: the snippet's calls deliver their events`, async () => {
    const key = `cd-${loader}`;
    const page = await newPage(browser);
    try {
      await page.goto(`${collector.url}/snippet.html?loader=${loader}&app=${key}`);
      // trackEvent's callback: called once its batch was acknowledged.
      await page.waitForFunction(() => window.acked.length > 0, null, { timeout: 10_000 }).catch(() => {
        throw new Error(`no callback; console:\n${page.consoleLines.join("\n")}`);
      });
      assert.deepEqual(await page.evaluate(() => window.acked), ["signup"]);
      assert.equal(await page.evaluate(() => Array.isArray(window.cooladata)), false, "the stub was replaced");

      await waitFor(() => collector.events({ app: key }).length >= 2, { what: "page_load and signup" });
      // trackEventLater: queued, not sent yet.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(names(collector.events({ app: key })), ["page_load", "signup"]);

      const report = await page.evaluate(() => window.cooladata.flush());
      assert.equal(report.sent, 2);
      assert.equal(report.failed, 0);
      const events = collector.events({ app: key });
      assert.deepEqual(names(events), ["later_one", "later_two", "page_load", "signup"]);

      const ua = await page.evaluate(() => navigator.userAgent);
      for (const e of events) {
        assert.equal(e.user_id, "snippet-user", `${e.event_name}: user_id`);
        assert.equal(e.session_id, "session-1", `${e.event_name}: session_id`);
        assert.equal(e.session_dua, ua);
        assert.ok(e.page_url.startsWith(`${collector.url}/snippet.html`), e.page_url);
      }
      const signup = events.find((e) => e.event_name === "signup");
      assert.equal(signup.plan, "pro");
      assert.equal(signup.price, 9.99);
      assert.equal(events.find((e) => e.event_name === "page_load").page_title, "CoolaData snippet, coola-tracker behind it");

      // After loading: setConfig applies to later events; callbacks still come.
      const after = await page.evaluate(
        () =>
          new Promise((resolve) => {
            window.cooladata.setConfig({ user_id: "user-2", session_id: "session-2" });
            window.cooladata.trackEvent("after_load", { step: 2 }, (err) => resolve(err ? err.message : "ok"));
          }),
      );
      assert.equal(after, "ok");
      const late = collector.events({ app: key }).find((e) => e.event_name === "after_load");
      assert.equal(late.user_id, "user-2");
      assert.equal(late.session_id, "session-2");

      const requests = await (await fetch(`${collector.url}/requests`)).json();
      const mine = (Array.isArray(requests) ? requests : requests.requests).filter((r) => r.app === key);
      assert.ok(mine.length >= 2 && mine.every((r) => r.path.startsWith("/v1/{appKey}/track")), JSON.stringify(mine));
    } finally {
      await page.context().close();
    }
  });
}

test("a batch that fails: the callback gets the error, the event is retried and delivered", async () => {
  const key = "cd-retry";
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/snippet.html?loader=classic&app=${key}`);
    await page.waitForFunction(() => window.acked.length > 0, null, { timeout: 10_000 });
    collector.control({ failNext: [{ status: 503 }] });
    const result = await page.evaluate(
      () =>
        new Promise((resolve) => {
          window.cooladata.trackEvent("unlucky", { try: 1 }, (err) =>
            resolve(err ? { code: err.code, count: err.count, message: err.message } : "ok"),
          );
        }),
    );
    assert.deepEqual(result, {
      code: "request_failed",
      count: 1,
      message: "1 event(s) were not acknowledged: 0 given up on, 1 queued and retried",
    });
    await waitFor(() => collector.events({ app: key }).some((e) => e.event_name === "unlucky"), {
      timeout: 20_000,
      what: "the retried event",
    });
  } finally {
    await page.context().close();
  }
});

test("a batch refused (400): the callback gets the error, counted once, and the event is not sent again", async () => {
  const key = "cd-refused";
  const page = await newPage(browser);
  try {
    await page.goto(`${collector.url}/snippet.html?loader=classic&app=${key}`);
    await page.waitForFunction(() => window.acked.length > 0, null, { timeout: 10_000 });
    collector.control({ failNext: [{ status: 400 }] });
    const result = await page.evaluate(
      () =>
        new Promise((resolve) => {
          window.cooladata.trackEvent("refused", { try: 1 }, (err) => {
            const pending = window.cooladata.trackers.now.pending;
            resolve(err ? { code: err.code, count: err.count, message: err.message, pending } : "ok");
          });
        }),
    );
    assert.deepEqual(result, {
      code: "request_failed",
      count: 1,
      message: "1 event(s) were not acknowledged: 1 given up on, 0 queued and retried",
      pending: 0,
    });
    // Something sent afterwards arrives, the refused event does not.
    await page.evaluate(() => new Promise((resolve) => window.cooladata.trackEvent("after", {}, resolve)));
    await waitFor(() => collector.events({ app: key }).some((e) => e.event_name === "after"), { what: "the next event" });
    assert.ok(!collector.events({ app: key }).some((e) => e.event_name === "refused"));
  } finally {
    await page.context().close();
  }
});

// ---- what a site's reports depend on (site.html: the snippet, then the
// site's own calls, `window.site`, defined by the test as a site writes them)

/** A fresh page whose site.html runs `calls` right after the snippet. */
async function sitePage(calls, b = browser) {
  const page = await newPage(b);
  await page.addInitScript(`window.site = ${calls.toString()};`);
  return page;
}

const version = () => JSON.parse(readFileSync(join(app.pkgDir, "package.json"), "utf8")).version;

for (const loader of ["classic", "module"]) {
  test(`${loader}: values as JSON sent them, tracker_type "javascript", referring_domain with its port`, async () => {
    const key = `cd-json-${loader}`;
    const page = await sitePage(function () {
      var q = new URLSearchParams(location.search);
      cooladata.init({ app_key: q.get("app"), api_host: location.host, user_id: "u-json" });
      window.results = {};
      var done = function (name) {
        return function (err) {
          window.results[name] = err ? err.code : "ok";
        };
      };
      cooladata.trackEvent(
        "json_values",
        { when: new Date(Date.UTC(2026, 10, 30, 12, 34, 56, 789)), nan: NaN, inf: Infinity, ninf: -Infinity, never: new Date(NaN), n: 3, s: "x" },
        done("json"),
      );
      cooladata.trackEvent("nested", { cart: { sku: "a" } }, done("nested"));
      cooladata.trackEvent("listed", { tags: ["a", "b"] }, done("listed"));
    });
    try {
      // Arrive from another page of the site: document.referrer has the port.
      await page.goto(`${collector.url}/next.html`);
      await page.evaluate((u) => (location.href = u), `${collector.url}/site.html?loader=${loader}&app=${key}`);
      await page.waitForFunction(() => window.results && Object.keys(window.results).length === 3, null, { timeout: 10_000 });
      assert.deepEqual(await page.evaluate(() => window.results), {
        json: "ok",
        nested: "nested_property",
        listed: "nested_property",
      });
      assert.ok(
        page.consoleLines.some((l) => l.startsWith("error:") && /cart/.test(l)),
        `the refused event is on the console:\n${page.consoleLines.join("\n")}`,
      );
      const [e] = collector.events({ app: key });
      assert.equal(collector.events({ app: key }).length, 1);
      assert.equal(e.event_name, "json_values");
      assert.equal(e.when, "2026-11-30T12:34:56.789Z");
      for (const k of ["nan", "inf", "ninf", "never"]) assert.equal(k in e, false, `${k} is left out`);
      assert.equal(e.n, 3);
      assert.equal(e.tracker_type, "javascript");
      assert.equal(e.tracker_version, `coola-tracker/${version()}`);
      const { host } = new URL(collector.url);
      assert.match(host, /:\d+$/);
      assert.equal(e.referring_domain, host);
      assert.equal(e.referring_url, `${collector.url}/next.html`);

      // CoolaTracker itself stays strict.
      const strict = await page.evaluate(() =>
        [{ d: new Date() }, { x: NaN }, { x: Infinity }].map((p) => {
          try {
            window.cooladata.trackers.now.track("strict", p);
            return "accepted";
          } catch (err) {
            return err.code;
          }
        }),
      );
      assert.deepEqual(strict, ["invalid_value", "invalid_value", "invalid_value"]);
    } finally {
      await page.context().close();
    }
  });
}

test("calls made before the script loaded are replayed in the order the snippet queued them", async () => {
  const key = "cd-order";
  const page = await sitePage(function () {
    var q = new URLSearchParams(location.search);
    cooladata.init({ app_key: q.get("app"), api_host: location.host, user_id: "u-order", session_id: "s1" });
    cooladata.trackEventLater("later_a", { n: 1 });
    cooladata.trackEventLater("later_b", { n: 2 });
    cooladata.flush();
    cooladata.trackEvent("first");
    cooladata.setConfig({ session_id: "s2" });
    cooladata.trackEvent("second");
  });
  try {
    await page.goto(`${collector.url}/site.html?loader=classic&app=${key}`);
    // The queued flush() sends the trackEventLater events: nothing else does.
    const events = await waitFor(
      () => {
        const got = collector.events({ app: key });
        return got.length >= 4 && got;
      },
      { what: "the four events" },
    );
    assert.deepEqual(names(events), ["first", "later_a", "later_b", "second"]);
    const by = Object.fromEntries(events.map((e) => [e.event_name, e]));
    assert.equal(by.first.session_id, "s1", "setConfig applies from where it was called");
    assert.equal(by.second.session_id, "s2");
    assert.equal(by.later_a.tracker_type, "javascript");
    // The collector records the events before it answers: the tracker
    // counts them acknowledged once the answer has reached the page.
    await waitFor(async () => (await page.evaluate(() => window.cooladata.pending)) === 0, {
      what: "every event acknowledged (pending 0)",
    });
  } finally {
    await page.context().close();
  }
});

test("trackPageload is trackPageView named page_load: after pushState the previous URL is its referrer", async () => {
  const key = "cd-pageload";
  const page = await sitePage(function () {
    var q = new URLSearchParams(location.search);
    window.seen = [];
    cooladata.init({
      app_key: q.get("app"),
      api_host: location.host,
      user_id: "u-pageload",
      track_pageload: true,
      // The site's own beforeSend still runs, on the page load too.
      tracker: {
        beforeSend: function (e) {
          window.seen.push(e.event_name);
          e.hooked = "yes";
        },
      },
    });
  });
  try {
    await page.goto(`${collector.url}/next.html`);
    await page.evaluate((u) => (location.href = u), `${collector.url}/site.html?loader=module&app=${key}`);
    await waitFor(() => collector.events({ app: key }).length >= 1, { what: "the first page_load" });
    const first = `${collector.url}/site.html?loader=module&app=${key}`;
    await page.evaluate(() => {
      history.pushState({}, "", "/site.html?step=2");
      window.cooladata.trackPageload();
      // A site's own page_view event keeps its name.
      window.cooladata.trackEvent("page_view", { own: 1 });
    });
    const events = await waitFor(
      () => {
        const got = collector.events({ app: key });
        return got.length >= 3 && got;
      },
      { what: "two page_load events and a page_view" },
    );
    assert.deepEqual(
      events.map((e) => e.event_name),
      ["page_load", "page_load", "page_view"],
    );
    const [one, two, own] = events;
    assert.equal(one.page_url, first);
    assert.equal(one.referring_url, `${collector.url}/next.html`, "the first: the document's referrer");
    assert.equal(two.page_url, `${collector.url}/site.html?step=2`);
    assert.equal(two.referring_url, first, "after pushState: the previous page_url");
    assert.equal(two.tracker_type, "javascript");
    assert.equal(own.own, 1);
    for (const e of events) assert.equal(e.hooked, "yes", `${e.event_name}: the site's beforeSend ran`);
    // The site's hook sees the renamed event.
    assert.deepEqual(await page.evaluate(() => window.seen), ["page_load", "page_load", "page_view"]);
  } finally {
    await page.context().close();
  }
});

// ---- track_pageload: where the page load goes, as cooladata-js has it. Its
// init tracks the page load at once, before any call made after init; with
// the snippet, its loader first replays the calls the stub queued.

/** The events of `app` once `count` have come (and no more after a while), in arrival order. */
async function arrived(app, count) {
  await waitFor(() => collector.events({ app }).length >= count, { what: `${count} events of ${app}` });
  await new Promise((r) => setTimeout(r, 300));
  return collector.events({ app });
}

/** `events` are `expected` in this order: by arrival, by request, by timestamp. */
function assertSequence(events, expected) {
  assert.deepEqual(events.map((e) => e.event_name), expected);
  for (let i = 1; i < events.length; i++) {
    const [a, b] = [events[i - 1], events[i]];
    assert.ok(a._request <= b._request, `${a.event_name} came in a request before ${b.event_name}'s`);
    assert.ok(
      Number(a.event_timestamp_epoch) <= Number(b.event_timestamp_epoch),
      `${a.event_name}'s timestamp ${a.event_timestamp_epoch} is not after ${b.event_name}'s ${b.event_timestamp_epoch}`,
    );
  }
}

for (const loader of ["classic", "module"]) {
  test(`${loader}: init with track_pageload, called directly: page_load is the first event, before the calls made after init`, async () => {
    const key = `cd-first-${loader}`;
    const page = await sitePage(function () {
      var app = new URLSearchParams(location.search).get("app");
      // One task, before the trackers are ready.
      cooladata.init({ app_key: app, api_host: location.host, user_id: "u-first", track_pageload: true });
      cooladata.trackEvent("signup", { plan: "pro" });
      cooladata.setConfig({ user_id: "u-later" });
      cooladata.trackEvent("after_config");
      // A named instance: the same.
      cooladata.init(
        { app_key: app + "-named", api_host: location.host, user_id: "u-named", track_pageload: true },
        undefined,
        "named",
      );
      cooladata.named.trackEvent("named_signup");
      window.readyAfterCalls = cooladata.trackers !== null;
    });
    try {
      await page.goto(`${collector.url}/direct.html?loader=${loader}&app=${key}`);
      const events = await arrived(key, 3);
      assert.equal(await page.evaluate(() => window.readyAfterCalls), false, "the calls were made before the trackers were ready");
      assertSequence(events, ["page_load", "signup", "after_config"]);
      const [pageLoad, signup, later] = events;
      assert.equal(pageLoad.page_url, `${collector.url}/direct.html?loader=${loader}&app=${key}`);
      assert.equal(pageLoad.user_id, "u-first", "the setConfig made after init is not the page load's");
      assert.equal(signup.user_id, "u-first");
      assert.equal(later.user_id, "u-later");
      assertSequence(await arrived(`${key}-named`, 2), ["page_load", "named_signup"]);
    } finally {
      await page.context().close();
    }
  });

  test(`${loader}: init with track_pageload in the snippet: the calls it queued, then page_load, then the calls made after the script loaded`, async () => {
    const key = `cd-snippet-order-${loader}`;
    const page = await sitePage(function () {
      var app = new URLSearchParams(location.search).get("app");
      // Against the stub, before the script has loaded.
      cooladata.init({ app_key: app, api_host: location.host, user_id: "u-snippet", track_pageload: true });
      cooladata.trackEvent("queued_one");
      cooladata.setConfig({ session_id: "s-queued" });
      cooladata.trackEvent("queued_two");
      cooladata.init(
        { app_key: app + "-named", api_host: location.host, user_id: "u-named", track_pageload: true },
        undefined,
        "named",
      );
      cooladata.named.trackEvent("named_queued");
      // Once the script has run (it took the stub over), its trackers not ready yet.
      document.querySelector("script[src*='cooladata']").addEventListener("load", function () {
        window.readyAtLoad = cooladata.trackers !== null;
        cooladata.trackEvent("after_load");
        cooladata.named.trackEvent("named_after_load");
      });
    });
    try {
      await page.goto(`${collector.url}/site.html?loader=${loader}&app=${key}`);
      const events = await arrived(key, 4);
      assert.equal(await page.evaluate(() => window.readyAtLoad), false, "after_load was called before the trackers were ready");
      assertSequence(events, ["queued_one", "queued_two", "page_load", "after_load"]);
      const pageLoad = events[2];
      assert.equal(pageLoad.page_url, `${collector.url}/site.html?loader=${loader}&app=${key}`);
      assert.equal(pageLoad.session_id, "s-queued", "the setConfig the snippet queued applies to the page load");
      assert.equal(pageLoad.user_id, "u-snippet");
      assertSequence(await arrived(`${key}-named`, 3), ["named_queued", "page_load", "named_after_load"]);
    } finally {
      await page.context().close();
    }
  });
}

test("an init without an app key: ready() rejects with invalid_option (field app_key), waiting calls fail", async () => {
  const key = "cd-badinit";
  const page = await sitePage(function () {
    window.results = {};
    // The snippet's queue: trackEvent waits for the trackers.
    cooladata.init({ app_key: "" });
    cooladata.trackEvent("never", { n: 1 }, function (err) {
      window.results.callback = err ? err.code + " " + err.field : "ok";
    });
  });
  try {
    await page.goto(`${collector.url}/site.html?loader=classic&app=${key}`);
    await page.waitForFunction(() => window.results && "callback" in window.results, null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.results.callback), "invalid_option app_key");
    const outcomes = await page.evaluate(async () => {
      // What became of a promise within 2 s.
      const settle = (p) =>
        Promise.race([
          p.then(
            () => "resolved",
            (e) => `rejected ${e instanceof Error} ${e.code} ${e.field}`,
          ),
          new Promise((r) => setTimeout(() => r("still pending"), 2000)),
        ]);
      const out = { page: await settle(window.cooladata.ready()) };
      const { createCooladata } = await import("/pkg/cooladata.js");
      for (const [label, args] of [
        ["empty", [{ app_key: "" }]],
        ["string", [""]],
        ["none", []],
        ["number", [{ app_key: 5 }]],
      ]) {
        const cd = createCooladata();
        const before = cd.ready(); // asked before init: settles with it
        cd.init(...args);
        out[label] = [await settle(before), await settle(cd.ready())];
        out[label + " flush"] = JSON.stringify(await cd.flush());
      }
      return out;
    });
    const rejected = "rejected true invalid_option app_key";
    assert.deepEqual(outcomes, {
      page: rejected,
      empty: [rejected, rejected],
      "empty flush": JSON.stringify({ sent: 0, failed: 0, pending: 0, requests: 0 }),
      string: [rejected, rejected],
      "string flush": JSON.stringify({ sent: 0, failed: 0, pending: 0, requests: 0 }),
      none: [rejected, rejected],
      "none flush": JSON.stringify({ sent: 0, failed: 0, pending: 0, requests: 0 }),
      number: [rejected, rejected],
      "number flush": JSON.stringify({ sent: 0, failed: 0, pending: 0, requests: 0 }),
    });
    assert.ok(
      page.consoleLines.some((l) => l.startsWith("error:") && /app_key/.test(l)),
      `the mistake is on the console:\n${page.consoleLines.join("\n")}`,
    );
    assert.equal(collector.events({ app: key }).length, 0);
  } finally {
    await page.context().close();
  }
});

for (const loader of ["classic", "module"]) {
  test(`${loader}: trackEvent's and trackEventLater's events share the visit's session, across a reload too`, async () => {
    const key = `cd-session-${loader}`;
    const page = await sitePage(function () {
      var q = new URLSearchParams(location.search);
      // No session_id given: the tracker's own session (in localStorage).
      window.seen = [];
      cooladata.init({
        app_key: q.get("app"),
        api_host: location.host,
        user_id: "u-session",
        tracker: {
          beforeSend: function (e) {
            window.seen.push(e.event_name);
          },
        },
      });
      if (q.get("step") === "2") {
        // After the reload only trackEventLater: the stored session still applies.
        cooladata.trackEventLater("later_after_reload");
        cooladata.flush();
        return;
      }
      // Before any trackEvent: the session starts with it.
      cooladata.trackEventLater("later_first", { n: 1 });
      cooladata.trackEvent("now_one");
      cooladata.trackEventLater("later_two", { n: 2 });
      cooladata.flush();
    });
    try {
      const url = `${collector.url}/site.html?loader=${loader}&app=${key}`;
      await page.goto(url);
      const events = await waitFor(
        () => {
          const got = collector.events({ app: key });
          return got.length >= 3 && got;
        },
        { what: "the three events" },
      );
      assert.deepEqual(names(events), ["later_first", "later_two", "now_one"]);
      const sessions = new Set(events.map((e) => e.session_id));
      assert.equal(sessions.size, 1, `one session: ${JSON.stringify(events.map((e) => [e.event_name, e.session_id]))}`);
      const [session] = sessions;
      assert.match(String(session), /^[A-Za-z0-9-]{8,64}$/);
      assert.equal(await page.evaluate(() => window.cooladata.trackers.now.sessionId), session);
      assert.equal(events.find((e) => e.event_name === "later_two").n, 2);
      // The site's beforeSend sees each event once.
      assert.deepEqual((await page.evaluate(() => window.seen)).sort(), ["later_first", "later_two", "now_one"]);
      // Asked for its session, `now` queued nothing of trackEventLater's.
      await waitFor(async () => (await page.evaluate(() => window.cooladata.pending)) === 0, {
        what: "every event acknowledged (pending 0)",
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(collector.events({ app: key }).length, 3, "no event sent twice");

      await page.goto(`${url}&step=2`);
      const again = await waitFor(
        () => collector.events({ app: key }).find((e) => e.event_name === "later_after_reload"),
        { what: "the event after the reload" },
      );
      assert.equal(again.session_id, session, "the session survives the reload for trackEventLater too");
    } finally {
      await page.context().close();
    }
  });
}

for (const loader of ["classic", "module"]) {
  test(`${loader}: autoPageViews in init's tracker options: one page_view a page, history hooked once`, async () => {
    const key = `cd-autopv-${loader}`;
    const page = await sitePage(function () {
      var q = new URLSearchParams(location.search);
      window.original = history.pushState;
      // The debug lines "queued", by event name.
      window.queued = [];
      var debug = console.debug;
      console.debug = function (line, event) {
        if (line === "[coola-tracker] queued" && event) window.queued.push(event.event_name);
        return debug.apply(console, arguments);
      };
      cooladata.init({
        app_key: q.get("app"),
        api_host: location.host,
        user_id: "u-autopv",
        tracker: { autoPageViews: "history", debug: true },
      });
      cooladata.trackEventLater("later_one");
    });
    try {
      const first = `${collector.url}/site.html?loader=${loader}&app=${key}`;
      await page.goto(first);
      // flush() sends both trackers' queues: trackEventLater's tracker
      // held its own page views until now, had it tracked any.
      const report = await page.evaluate(async () => {
        await window.cooladata.ready();
        history.pushState({}, "", "/site.html?step=2");
        return window.cooladata.flush();
      });
      await waitFor(async () => (await page.evaluate(() => window.cooladata.pending)) === 0, {
        what: "every event acknowledged (pending 0)",
      });
      await new Promise((r) => setTimeout(r, 300));
      const events = collector.events({ app: key });
      assert.deepEqual(
        events.map((e) => [e.event_name, e.page_url]).sort(),
        [
          ["later_one", first],
          ["page_view", first],
          ["page_view", `${collector.url}/site.html?step=2`],
        ],
      );
      assert.equal(report.sent, 3);
      assert.deepEqual((await page.evaluate(() => window.queued)).sort(), ["later_one", "page_view", "page_view"]);
      // shutdown() leaves history.pushState as the page had it.
      await page.evaluate(() => window.cooladata.shutdown());
      assert.equal(await page.evaluate(() => history.pushState === window.original), true);
    } finally {
      await page.context().close();
    }
  });
}
