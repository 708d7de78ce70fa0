/**
 * `npm run build`: `next build`, then the budget on what it reports. Every page's "First Load
 * JS" (the JavaScript a browser fetches before the page works, gzipped) must stay under
 * BUDGET_KB; a page over it fails the build, and so does a report that cannot be read.
 */
import { spawnSync } from "node:child_process";

const BUDGET_KB = 250;
const UNITS = { B: 1 / 1000, kB: 1, MB: 1000 };

const build = spawnSync("next", ["build"], { encoding: "utf8", shell: false, env: process.env });
if (build.error) {
  console.error(`could not start next build (run it through npm run build): ${build.error.message}`);
  process.exit(1);
}
process.stdout.write(build.stdout ?? "");
process.stderr.write(build.stderr ?? "");
if (build.status !== 0) process.exit(build.status ?? 1);

// Rows such as "├ ○ /runs/detail      83 kB      197 kB": route, size, first-load size.
const row = /^[┌├└]\s+\S+\s+(\/\S*)\s+([\d.]+)\s+(B|kB|MB)\s+([\d.]+)\s+(B|kB|MB)\s*$/;
const pages = [];
for (const line of build.stdout.split("\n")) {
  const match = row.exec(line.replace(/\x1b\[[0-9;]*m/g, ""));
  if (match) pages.push({ route: match[1], firstLoadKb: Number(match[4]) * UNITS[match[5]] });
}
if (pages.length === 0) {
  console.error("budget: could not read the page sizes from `next build`");
  process.exit(1);
}
const over = pages.filter((p) => p.firstLoadKb >= BUDGET_KB);
for (const p of over) {
  console.error(`budget: ${p.route} loads ${p.firstLoadKb} kB of JavaScript first (budget ${BUDGET_KB} kB)`);
}
if (over.length) process.exit(1);
console.log(`budget: every page's first-load JS is under ${BUDGET_KB} kB (largest ${Math.max(...pages.map((p) => p.firstLoadKb))} kB)`);
