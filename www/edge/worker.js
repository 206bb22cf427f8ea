// The whole collector Worker: pages post to /collect on this site's own
// domain, the events go through the COOLA_EVENTS queue to CoolaData.
// Bindings and settings: wrangler.toml; the app key: `npx wrangler secret put COOLA_APP_KEY`.
import { createCollector } from "coola-tracker/edge";

export default createCollector();
