// Freeze and kill detection at the connection level, against real erl nodes
// at net_ticktime 4 (ours 4000 ms), for every OTP variant present:
// - a freeze (SIGSTOP) shorter than 0.75 x ticktime drops nothing, on either side;
// - a frozen erl is dropped with ERR_TICK_TIMEOUT, on a connection we dialed
//   and on one erl dialed, three rounds; the times are printed for the record
//   (OTP 25 itself took 2.65-4.97 s at ticktime 4) and asserted only within
//   generous bounds;
// - a `kill -9` is seen as a socket close (ERR_CONNECTION_CLOSED), not by ticks.
// erl is resumed with SIGCONT after each freeze and in teardown, and stopped by pid.
import t, { type Test } from 'tap';
import { Harness, uniq } from './harness.js';
import { ctrl, type DistConnection, type DistError } from '../../src/dist/index.js';
import { atom, tuple, Pid, Tuple, type Term } from '../../src/etf/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';
import { waitUntil } from '../helpers/until.js';

const TICK_S = 4;
const TICK_MS = TICK_S * 1000;

// `echo` (test/erl/bb_dist_peer.erl): {From, connect, Node} -> {connected, Node, Bool}; {From, Msg} -> {echo, Msg}.
// Node events are printed as "EV ...".
const ERL = 'bb_dist_peer:start()';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const closed = (c: DistConnection) => new Promise<DistError | undefined>((r) => (c.closed ? r(c.reason) : c.once('close', r)));
const isTuple = (m: Term, tag: string): m is Tuple => m instanceof Tuple && m.at(0) === atom(tag);

/** Every measured detection time, for the summary at the end. */
const measured: { variant: string; how: string; ms: number }[] = [];

for (const v of variantsSideBySide(t)) {
  t.test(`${v.label}: freeze and kill detection at net_ticktime ${TICK_S}`, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `frz${vtag}@127.0.0.1`;
    const erl = await startErlNode(t, {
      name: erlName,
      cookie: 'c',
      epmdPort,
      root: v.root,
      args: ['-kernel', 'net_ticktime', String(TICK_S)],
      eval: ERL,
      modules: [erlModule('bb_dist_peer')],
    });
    t.teardown(() => {
      if (!erl.exited) process.kill(erl.pid, 'SIGCONT');
    });
    const connection = { tickTimeMs: TICK_MS };
    // hd dials erl; erl dials ha (when asked through hd's connection).
    const hd = await Harness.start(t, { name: `frd${vtag}@127.0.0.1`, cookie: 'c', epmdPort, connection });
    const ha = await Harness.start(t, { name: `fra${vtag}@127.0.0.1`, cookie: 'c', epmdPort, connection });
    const me = new Pid(atom(hd.o.name), 1, 0, hd.creation);
    const echo = async (c: DistConnection, what: string): Promise<boolean> => {
      c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, what)));
      const m = await hd.next(c, (x) => x.kind === 'send' && isTuple((x as { message: Term }).message, 'echo'), 20_000);
      const back = (m as { message: Tuple }).message.at(1);
      return Buffer.isBuffer(back) && back.toString() === what;
    };
    /** A live connection each way: hd -> erl, and erl -> ha. */
    const connectBoth = async (t: Test): Promise<[DistConnection, DistConnection]> => {
      const out = await hd.connect(erlName);
      const acceptedBefore = ha.accepted.length;
      out.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, atom('connect'), atom(ha.o.name))));
      const r = await hd.next(out, (x) => x.kind === 'send' && isTuple((x as { message: Term }).message, 'connected'), 20_000);
      t.equal(((r as { message: Tuple }).message as Tuple).at(2), true, 'erl connected to us');
      await ha.until(() => ha.accepted.length > acceptedBefore);
      const inc = ha.connections[ha.connections.length - 1];
      return [out, inc];
    };

    let [out, inc] = await connectBoth(t);

    // Half a ticktime: the earliest a drop can come is 0.75 x ticktime after the freeze (erl's
    // last tick up to a quarter before it), so a slow SIGCONT on a loaded machine keeps 1 s of room.
    t.test(`a freeze of ${0.5 * TICK_S} s (under 0.75 x ticktime) drops nothing`, async (t) => {
      await sleep(1000);
      const nodedowns = erl.lines.filter((l) => l.startsWith('EV {nodedown')).length;
      process.kill(erl.pid, 'SIGSTOP');
      await sleep(0.5 * TICK_MS);
      process.kill(erl.pid, 'SIGCONT');
      // Then a whole ticktime more, in which a late false drop would show.
      await sleep(TICK_MS);
      t.notOk(out.closed, `the connection we dialed stays up (${out.reason?.code ?? 'open'})`);
      t.notOk(inc.closed, `the connection erl dialed stays up (${inc.reason?.code ?? 'open'})`);
      t.equal(erl.lines.filter((l) => l.startsWith('EV {nodedown')).length, nodedowns, 'erl saw no nodedown either');
      t.ok(await echo(out, 'after the short freeze'), 'messages still flow');
    });

    t.test('a frozen erl is dropped with ERR_TICK_TIMEOUT, both directions, three rounds', async (t) => {
      for (let round = 1; round <= 3; round++) {
        if (round > 1) [out, inc] = await connectBoth(t);
        await sleep(500);
        const outClosed = closed(out);
        const incClosed = closed(inc);
        const downs = erl.lines.filter((l) => l.startsWith('EV {nodedown')).length;
        const t0 = Date.now();
        process.kill(erl.pid, 'SIGSTOP');
        const [eo, ei] = await Promise.all([
          outClosed.then((e) => ({ e, ms: Date.now() - t0 })),
          incClosed.then((e) => ({ e, ms: Date.now() - t0 })),
        ]);
        process.kill(erl.pid, 'SIGCONT');
        for (const [how, r] of [
          ['we dialed', eo],
          ['erl dialed', ei],
        ] as const) {
          measured.push({ variant: v.label, how, ms: r.ms });
          t.comment(`${v.label} round ${round}, connection ${how}: frozen erl dropped after ${r.ms} ms (ticktime ${TICK_MS} ms)`);
          t.equal(r.e?.code, 'ERR_TICK_TIMEOUT', `${how}: dropped by the tick timeout`);
          // Generous bounds only: not before half a ticktime, not after five.
          t.ok(r.ms >= TICK_MS / 2 && r.ms <= 5 * TICK_MS, `${how}: ${r.ms} ms within [${TICK_MS / 2}, ${5 * TICK_MS}]`);
        }
        // erl resumes, finds its sockets closed and forgets us; wait for that before reconnecting.
        await waitUntil(
          () => `round ${round}: erl seeing both nodedowns (lines: ${erl.lines.slice(-4).join(' | ')})`,
          () => erl.lines.filter((l) => l.startsWith('EV {nodedown')).length >= downs + 2,
          20_000,
          50,
        );
      }
    });

    t.test('kill -9 of erl is seen at once, as a socket close', async (t) => {
      [out, inc] = await connectBoth(t);
      const outClosed = closed(out);
      const incClosed = closed(inc);
      const t0 = Date.now();
      process.kill(erl.pid, 'SIGKILL');
      const [eo, ei] = await Promise.all([
        outClosed.then((e) => ({ e, ms: Date.now() - t0 })),
        incClosed.then((e) => ({ e, ms: Date.now() - t0 })),
      ]);
      for (const [how, r] of [
        ['we dialed', eo],
        ['erl dialed', ei],
      ] as const) {
        measured.push({ variant: v.label, how: `kill -9, ${how}`, ms: r.ms });
        t.comment(`${v.label}: kill -9 seen after ${r.ms} ms on the connection ${how}`);
        t.equal(r.e?.code, 'ERR_CONNECTION_CLOSED', `${how}: seen as the socket closing, not by ticks (${r.e?.message})`);
      }
    });
  });
}

t.teardown(() => {
  const freezes = measured.filter((m) => !m.how.startsWith('kill'));
  if (freezes.length === 0) return;
  const ms = freezes.map((m) => m.ms).sort((a, b) => a - b);
  const kills = measured.filter((m) => m.how.startsWith('kill')).map((m) => m.ms);
  console.log(
    `# freeze detection at ticktime ${TICK_S} s: ${ms.length} drops, min ${ms[0]} ms, median ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms; kill -9 seen after ${kills.join(', ')} ms`,
  );
});
