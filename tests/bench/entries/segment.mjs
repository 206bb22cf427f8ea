// Segment, defaults, with the CDN settings given inline (no settings request).
import { AnalyticsBrowser } from "@segment/analytics-next";

export async function make() {
  const [analytics] = await AnalyticsBrowser.load({
    writeKey: "benchWriteKey",
    cdnSettings: { integrations: { "Segment.io": { apiKey: "benchWriteKey" } } },
  });
  return { track: (name, props) => analytics.track(name, props) };
}
