// Mixpanel, defaults: a named instance per tracker.
import mixpanel from "mixpanel-browser";

let n = 0;
export async function make() {
  const mp = mixpanel.init("benchToken", {}, "mp" + n++);
  return { track: (name, props) => mp.track(name, props) };
}
