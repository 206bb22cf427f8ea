// Types of `coola-tracker/edge`: a first-party collector Worker on Cloudflare Queues.

/** Options of `createCollector`; every one has a default. */
export interface CollectorOptions {
  /** The path pages post to, default "/collect". Other paths answer 404. */
  path?: string;
  /** The env variable (a secret) holding the CoolaData app key, default "COOLA_APP_KEY". */
  appKeyVar?: string;
  /** The env variable with the CoolaData endpoint, default "COOLA_ENDPOINT" (unset: CoolaData's own); "{appKey}" is replaced. */
  endpointVar?: string;
  /** The Queue producer binding the events go to, default "COOLA_EVENTS". */
  queue?: string;
  /** The producer binding for events CoolaData refused, default "COOLA_DLQ" (optional: unbound, they are logged). */
  deadLetterQueue?: string;
  /** Origins allowed by CORS besides the Worker's own, e.g. ["https://www.example.com"]; "*" allows any. */
  allowedOrigins?: string[];
  /** The largest request body read, default 1048576; larger ones answer 413. */
  maxBodyBytes?: number;
  /** The consumer's backoff when CoolaData gives no Retry-After: up to base * 2^(attempts - 1) seconds (full jitter), at most 300; default 2. */
  retryBaseSeconds?: number;
  /** The longest backoff, in seconds, 1..300, default 300 (a Retry-After is honoured up to 300 s whatever this is). */
  retryMaxSeconds?: number;
}

/** A Queue message as the consumer receives it (what `queue()` uses of Cloudflare's `Message`). */
export interface CollectorMessage {
  readonly body: unknown;
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

/** A consumer batch (what `queue()` uses of Cloudflare's `MessageBatch`). */
export interface CollectorBatch {
  readonly messages: readonly CollectorMessage[];
}

/** The module Worker's handlers: `export default createCollector()`. */
export interface Collector {
  /** Pages' requests: POST events to `path` (200 once queued; 400 with `{index, code, field, message}` per bad event, or one `index: null` entry for the body; 403 / 404 / 405 / 413; 503 with Retry-After when the queue throws, or while the app key is unset or the endpoint unusable: not https, http only on loopback hosts, no user:password). */
  fetch(request: Request, env: Record<string, unknown>, ctx?: unknown): Promise<Response>;
  /** The consumer: delivers a batch to CoolaData, acks, retries or dead-letters each message (while the app key is unset or the endpoint unusable: logs, retries them all). A redirect is never followed: retried like a network error, and logged. A 413 to a request of several events splits it in halves, posted at once; a lone event's 413 is a refusal. */
  queue(batch: CollectorBatch, env: Record<string, unknown>, ctx?: unknown): Promise<void>;
}

/** Makes the collector. Throws `invalid_option` (with `field`) for a bad option value, and for a name that is no option (`"allowedOrigin": not an option (check its spelling)`). */
export function createCollector(options?: CollectorOptions): Collector;
