// The cooladata drop-in used as CoolaData's snippet users call it: must
// type-check with `tsc --strict`.
import cooladataDefault, { cooladata, createCooladata, endpointFor, type CooladataConfig } from "coola-tracker/cooladata";
import type { FlushReport } from "coola-tracker";

const config: CooladataConfig = {
  app_key: "YOUR_APP_KEY",
  api_host: "api.cooladata.com",
  user_id: "user-1",
  session_id: "session-1",
  track_pageload: true,
  img_src_get_request: true,
};
cooladata.init(config);
cooladata.trackEvent("signup", { plan: "pro", price: 9.99 });
cooladata.trackEvent("paid", { amount: 10 }, (error) => {
  if (error) console.warn(error.message);
});
cooladata.trackEvent("no_props", () => {});
cooladata.trackEventLater("scrolled", { depth: 50 });
cooladata.trackPageload();
cooladata.setConfig({ user_id: "user-2", session_id: "session-2" });
const report: Promise<FlushReport> = cooladata.flush();
const host: string | undefined = cooladata.getConfig("api_host");
cooladata.track_event("snake_case", { ok: true });
cooladata.push(["trackEvent", "queued", { a: 1 }]);
const other = createCooladata("second");
other.init({ app_key: "OTHER" });
const url: string = endpointFor("127.0.0.1:8080");
console.log(report, host, url, cooladataDefault === cooladata);
