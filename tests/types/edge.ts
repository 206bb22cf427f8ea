// coola-tracker/edge as a Worker uses it: must type-check with `tsc --strict`.
import { createCollector, type Collector, type CollectorOptions } from "coola-tracker/edge";
import { CoolaTracker } from "coola-tracker";

const options: CollectorOptions = {
  path: "/collect",
  appKeyVar: "COOLA_APP_KEY",
  endpointVar: "COOLA_ENDPOINT",
  queue: "COOLA_EVENTS",
  deadLetterQueue: "COOLA_DLQ",
  allowedOrigins: ["https://www.example.com"],
  maxBodyBytes: 1_048_576,
  retryBaseSeconds: 2,
  retryMaxSeconds: 300,
};
const collector: Collector = createCollector(options);
export default createCollector();

async function handle(request: Request, env: Record<string, unknown>): Promise<Response> {
  const res: Response = await collector.fetch(request, env);
  await collector.queue({ messages: [{ body: "{}", attempts: 1, ack() {}, retry(o) { void o?.delaySeconds; } }] }, env);
  return res;
}
// A page pointed at it: a path, and no appKey.
const tracker = new CoolaTracker({ endpoint: "/collect" });
console.log(handle, tracker.pending);
