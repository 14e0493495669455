#!/usr/bin/env node
// Closing summary of a tap run's output, for the end of a CI log (whoever reads
// a CI log often sees only its tail, and tap prints each failure where its file
// finished, minutes earlier).
//
//   node scripts/tap-failures.mjs LOG
//
// Prints "tests: P passed, F failed, S skipped" from tap's last
// "# { total: N, pass: N, fail: N, skip: N }" line, then every failed
// assertion with the path of subtests that leads to it and the first lines of
// its YAML diagnostic. A failed subtest whose assertions all passed (a timeout,
// a thrown error, a plan mismatch) is listed by its own diagnostic. Exits 0.
import { readFileSync } from 'node:fs';

const MAX_DIAG_LINES = 14;
const MAX_FAILURES = 20;

const lines = readFileSync(process.argv[2], 'utf8').split('\n');

const totals = lines.filter((l) => /^# \{ total: \d+/.test(l)).pop();
if (totals) {
  const n = (k) => Number((totals.match(new RegExp(`${k}: (\\d+)`)) ?? [0, 0])[1]);
  console.log(`tests: ${n('pass')} passed, ${n('fail')} failed, ${n('skip')} skipped`);
}

// Subtest names by indentation depth (4 spaces per level): "# Subtest: NAME" opens one.
const open = [];
const failures = [];
for (let i = 0; i < lines.length; i++) {
  const sub = lines[i].match(/^( *)# Subtest: (.*)$/);
  if (sub) {
    const depth = sub[1].length / 4;
    open.length = depth;
    open[depth] = sub[2];
    continue;
  }
  const bad = lines[i].match(/^( *)not ok \d+ - (.*?)(?: # time=.*)?$/);
  if (!bad) continue;
  const depth = bad[1].length / 4;
  // A subtest's own "not ok" follows its children's; list it only when none of them failed.
  const childFailed = failures.some((f) => f.depth > depth && f.path.slice(0, depth).join('\0') === open.slice(0, depth).join('\0') && f.path[depth] === bad[2]);
  const diag = [];
  if (lines[i + 1]?.trim() === '---') {
    const indent = lines[i + 1].indexOf('---');
    for (let j = i + 2; j < lines.length && lines[j].trim() !== '...' && diag.length < MAX_DIAG_LINES; j++) diag.push(lines[j].slice(indent).trimEnd());
  }
  if (!childFailed) failures.push({ depth, path: [...open.slice(0, depth), bad[2]], diag });
}

if (failures.length > 0) {
  console.log(`\nfailed (${failures.length}):`);
  for (const f of failures.slice(0, MAX_FAILURES)) {
    console.log(`- ${f.path.join(' > ')}`);
    for (const d of f.diag) console.log(`    ${d}`);
  }
  if (failures.length > MAX_FAILURES) console.log(`... and ${failures.length - MAX_FAILURES} more (search the log for "not ok")`);
}
