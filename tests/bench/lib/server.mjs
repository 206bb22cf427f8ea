// A static server for the page: tests/bench (page, workload, bundles and the
// snapshot of pkg/ in .out/). Cross-origin isolated (COOP/COEP), so that
// performance.now() has its fine resolution in Chromium.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { benchDir } from "./common.mjs";

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const PAGE = `<!doctype html><meta charset="utf-8"><title>coola-tracker bench</title><script type="module" src="/page.mjs"></script>`;

export function serve() {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cache-Control": "no-store" };
    let file;
    if (path === "/" || path === "/index.html") {
      res.writeHead(200, { ...headers, "Content-Type": "text/html" });
      return res.end(PAGE);
    }
    file = join(benchDir, normalize(path));
    if (!file.startsWith(benchDir)) {
      res.writeHead(403);
      return res.end();
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { ...headers, "Content-Type": TYPES[extname(file)] || "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })));
}
