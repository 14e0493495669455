// Net ticks against real erl nodes at a short net_ticktime: an idle connection
// stays up in both directions, and a frozen (SIGSTOP) erl is dropped with
// ERR_TICK_TIMEOUT. Time is printed, and asserted only within generous bounds.
import t from 'tap';
import { Harness, uniq } from './harness.js';
import type { DistError } from '../../src/dist/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';

// Prints every node event as "EV ..." (test/erl/bb_dist_peer.erl).
const MONITOR = 'bb_dist_peer:monitor_nodes()';

for (const v of variantsSideBySide(t)) {
  t.test(`${v.label}: ticks at net_ticktime 2`, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `tick${vtag}@127.0.0.1`;
    const erl = await startErlNode(t, {
      name: erlName,
      cookie: 'c',
      epmdPort,
      root: v.root,
      args: ['-kernel', 'net_ticktime', '2'],
      eval: MONITOR,
      modules: [erlModule('bb_dist_peer')],
    });
    t.teardown(() => {
      if (!erl.exited) process.kill(erl.pid, 'SIGCONT');
    });
    const tickTimeMs = 2000;
    const h = await Harness.start(t, { name: `jst${vtag}@127.0.0.1`, cookie: 'c', epmdPort, connection: { tickTimeMs } });
    const c = await h.connect(erlName);
    await erl.waitForLine(/^EV \{nodeup,/);

    // Idle for 2.5 ticktimes: both sides tick, nobody drops anybody.
    await new Promise((r) => setTimeout(r, 5000));
    t.notOk(c.closed, 'still connected after 5 s idle');
    t.ok(c.stats.ticksIn >= 2, `${c.stats.ticksIn} ticks received`);
    t.ok(c.stats.ticksOut >= 2, `${c.stats.ticksOut} ticks sent`);
    t.notOk(
      erl.lines.some((l) => l.startsWith('EV {nodedown')),
      'erl saw no nodedown',
    );

    // Freeze erl: we must drop it within OTP's window, ticktime x (1 +- 1/4).
    const closed = new Promise<DistError | undefined>((r) => c.once('close', r));
    const frozenAt = Date.now();
    process.kill(erl.pid, 'SIGSTOP');
    const err = await closed;
    const took = Date.now() - frozenAt;
    process.kill(erl.pid, 'SIGCONT');
    t.equal(err?.code, 'ERR_TICK_TIMEOUT');
    t.comment(`frozen erl dropped after ${took} ms at ticktime ${tickTimeMs} ms`);
    t.ok(took > 200 && took < 20_000, `detection ${took} ms within generous bounds`);
  });
}
