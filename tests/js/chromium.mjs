// How every browser test and the bench start Debian's Chromium (never a
// browser downloaded by a test tool): as root, headless, and without the
// background connections this machine's closed network refuses.
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const CHROMIUM_PATH = process.env.CHROMIUM || "/usr/bin/chromium";
