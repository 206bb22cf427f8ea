// `make size`: the weight part of the bench alone (no browser, no timing).
// First the budget: the browser build's total gzip -9 with its parts (wasm,
// glue, snippet) and the wasm by module, each next to its budget
// (lib/budget.mjs; the breakdown needs the names build that `make size`
// passes as the first argument). Then coola-tracker against the peers, raw /
// gzip -9 / brotli; the peers are npm-installed into tests/bench/node_modules
// the first time.
import { table } from "./lib/common.mjs";
import { budgetTables } from "./lib/budget.mjs";
import { breakdown, weigh, weightRows } from "./lib/weight.mjs";

const bundles = await weigh();
const coola = bundles.find((b) => b.id === "coola-tracker");
console.log(await budgetTables(coola.js, process.argv[2]));
console.log();
const { rows, notes } = weightRows(bundles);
console.log(table(["figure", "coola-tracker", "peer", "ratio (coola / peer)"], rows));
console.log();
console.log(breakdown(bundles));
for (const n of notes) console.log("\n" + n);
