// Amplitude, defaults (but no remote-config request): one instance per tracker.
import { createInstance } from "@amplitude/analytics-browser";

export async function make() {
  const a = createInstance();
  await a.init("benchApiKey", undefined, { fetchRemoteConfig: false }).promise;
  return { track: (name, props) => a.track(name, props) };
}
