// `beambridge darklaunch --spawn` with faults: a stub node SIGKILLed and
// restarted under its name, then the gateway restarted on its port. The
// report shows both, delivery resumes after each, and every message is
// accounted for: delivered, recovered by history, or lost with the reason.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLines, darklaunch, renderInChromium } from './darklaunch-check.js';

const KILL = 'kill-node:1@7s';
const RESTART = 'restart-gateway@13s';

t.test('kill-node and restart-gateway: markers, delivery resumes, every loss accounted for', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bb-darklaunch-faults-'));
  // Each fault is followed by 6 s of traffic before the next one or the end (delivery
  // resumed 1 s after each at load 4-5; the report counts deliveries up to 10 s after).
  const run = await darklaunch(t, dir, [
    '--spawn', '--users', '300', '--ramp', '3s', '--duration', '19s', '--presence-every', '5s', '--sends-per-min', '6', '--friends', '10',
    '--fault', KILL, '--fault', RESTART, '--drain', '5s', '--slo', 'p99<=60s,lost=0',
  ]);
  const r = run.report;
  checkLines(t, run);
  t.equal(run.code, r.slo.met ? 0 : 1, 'the exit status follows the SLO');
  t.ok(run.lines.some((l) => l.type === 'fault' && l.text === KILL), 'the kill-node fault is reported as it happens');

  const [kill, restart] = [KILL, RESTART].map((text) => r.faults.find((f) => f.text === text));
  t.ok(kill?.ok, `kill-node: ${kill?.detail}`);
  t.match(kill?.detail, /SIGKILL .*restarted under the same name/);
  t.ok(restart?.ok, `restart-gateway: ${restart?.detail}`);
  for (const f of [kill!, restart!]) {
    t.ok(r.samples.some((s) => s.faults.includes(f.text)), `a sample carries the ${f.text} marker`);
    t.type(f.resumedAfterS, 'number', `delivery resumed ${f.resumedAfterS} s after ${f.text}`);
    t.ok(f.deliveriesAfter! > 0, `${f.deliveriesAfter} deliveries in the (up to) 10 s after ${f.text}`);
  }
  // Every message accounted for: delivered, recovered by history, or lost with the reason why.
  const L = r.ledger;
  t.equal(L.settled, true, 'the audit ran');
  t.equal(L.inFlight, 0, 'nothing left unaccounted');
  t.equal(L.delivered + L.recoveredByHistory + L.lost, L.accepted);
  t.equal(L.lostMessages.length, L.lost);
  for (const m of L.lostMessages) t.ok(m.reason.length > 20, `lost ${m.id} (${m.from} -> ${m.to} at ${m.acceptedAtS} s): ${m.reason}`);
  t.ok(L.lostMessages.filter((m) => m.fault).every((m) => m.fault === KILL && /SIGKILL/.test(m.reason)), 'losses put down to a fault name it');
  t.comment(`ledger: ${L.accepted} accepted, ${L.delivered} delivered, ${L.recoveredByHistory} recovered by history, ${L.lost} lost (${JSON.stringify(L.lostByReason)})`);
  t.ok(Object.keys(r.totals.errors).length > 0, `the faults show as errors: ${JSON.stringify(r.totals.errors)}`);

  const svg = readFileSync(join(dir, 'report.svg'), 'utf8');
  t.match(svg, /kill-node:1 at 7\.\d s/);
  t.match(svg, /restart-gateway at 13\.\d s/);
  await renderInChromium(t, join(dir, 'report.svg'), 'darklaunch-faults', ['kill-node:1 at', 'restart-gateway at']);
});
