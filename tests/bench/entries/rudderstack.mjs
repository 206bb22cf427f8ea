// RudderStack v3 (the npm entry whose plugins are fetched from RudderStack's
// CDN at run time): source config given inline. RudderAnalytics is a page
// singleton, so `make` loads it once and later calls reuse it.
import { RudderAnalytics } from "@rudderstack/analytics-js";
import { sourceConfig } from "./rudderstack-config.mjs";

let ready;
export async function make() {
  ready ||= new Promise((resolve) => {
    const ra = new RudderAnalytics();
    ra.load("benchWriteKey", "https://dataplane.example.invalid", {
      getSourceConfig: sourceConfig,
      onLoaded: () => resolve(ra),
    });
  });
  const ra = await ready;
  return { track: (name, props) => ra.track(name, props) };
}
