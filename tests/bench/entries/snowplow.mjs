// Snowplow, defaults: a self-describing event carries the properties.
import { newTracker, trackSelfDescribingEvent } from "@snowplow/browser-tracker";

let n = 0;
export async function make() {
  const id = "sp" + n++;
  newTracker(id, "https://collector.example.invalid", { appId: "bench" });
  return {
    track: (name, props) =>
      trackSelfDescribingEvent({ event: { schema: "iglu:com.example/" + name + "/jsonschema/1-0-0", data: props } }, [id]),
  };
}
