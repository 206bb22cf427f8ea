// `make size`: the weight part of the bench alone (no browser, no timing):
// coola-tracker's browser build against the peers, raw / gzip -9 / brotli.
// The peers are npm-installed into tests/bench/node_modules the first time.
import { table } from "./lib/common.mjs";
import { breakdown, weigh, weightRows } from "./lib/weight.mjs";

const bundles = await weigh();
const { rows, notes } = weightRows(bundles);
console.log(table(["figure", "coola-tracker", "peer", "ratio (coola / peer)"], rows));
console.log();
console.log(breakdown(bundles));
for (const n of notes) console.log("\n" + n);
