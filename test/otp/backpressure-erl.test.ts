// Backpressure at node level, against a real erl that stops reading (SIGSTOP),
// for every OTP variant present: memory does not grow without bound.
// - `onBusy: 'error'`: once the connection is over `busyLimitBytes`,
//   `p.send` throws ERR_BUSY and queues nothing: the buffer stays under the
//   limit plus one message; the node's own signals still go (a monitor is
//   set up while busy); after SIGCONT everything accepted arrives, in order.
// - `onBusy: 'wait'` (default) with `p.sendAsync`: the sender waits while the
//   peer is frozen, the buffer stays under the limit plus one message, and
//   everything arrives in order once it reads again; `p.send` returns false
//   while busy.
// The loops are bounded in count and time. erl is resumed before it stops.
import t from 'tap';
import { Node } from '../../src/otp/index.js';
import { NodeError } from '../../src/node/index.js';
import { Tuple, atom, tuple } from '../../src/etf/index.js';
import { otpVariants, startEpmd, startErlNode, type Started } from '../../src/testing/index.js';
import { PEER_EVAL, PEER_MODULES, isTuple } from '../node/peer.js';
import { erlModule } from '../helpers/erl-modules.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const MSG = 16 * 1024;
const LIMIT = 256 * 1024;
/** Slack over one message for the distribution header and the control tuple. */
const SLACK = MSG + 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `counter` (test/erl/bb_sink.erl): counts `{seq, I, Bin}` and checks that I runs 1, 2, 3...; `{get, F}` -> `{count, N, InOrder}`; `{reset, F}`. */

function resume(p: Started): void {
  try {
    process.kill(p.pid, 'SIGCONT');
  } catch {
    /* gone */
  }
}

for (const v of otpVariants()) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `bp${vtag}@127.0.0.1`;
    const erl = await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, root: v.root, eval: `${PEER_EVAL}, bb_sink:counter()`, modules: [...PEER_MODULES, erlModule('bb_sink')] });
    t.teardown(() => resume(erl));
    const payload = Buffer.alloc(MSG, 7);
    const counter = { name: 'counter', node: erlName };

    const count = async (p: ReturnType<Node['spawn']>): Promise<[number, boolean]> => {
      await p.sendAsync(counter, tuple(atom('get'), p.pid));
      const m = (await p.receive({ timeoutMs: 60_000, match: (x) => isTuple(x, 'count', 3) })) as Tuple;
      return [m.at(1) as number, m.at(2) as boolean];
    };
    const reset = async (p: ReturnType<Node['spawn']>) => {
      p.send(counter, tuple(atom('reset'), p.pid));
      await p.receive({ timeoutMs: 30_000, match: (x) => x === atom('reset_done') });
    };

    t.test("onBusy 'error': sends fail with ERR_BUSY, the buffer stays bounded", async (t) => {
      const node = await Node.start({ name: `jsbpe${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, busyLimitBytes: LIMIT, onBusy: 'error' });
      t.teardown(() => node.stop());
      t.equal(node.onBusy, 'error');
      const p = node.spawn();
      await reset(p);
      const conn = node.connection(erlName)!;
      t.equal(conn.busyLimitBytes, LIMIT);
      process.kill(erl.pid, 'SIGSTOP');
      let accepted = 0;
      let refused = 0;
      let maxBuffered = 0;
      const rss0 = process.memoryUsage().rss;
      const t0 = Date.now();
      // Bounded: at most 8000 messages (128 MB), 20 s, or 200 refusals.
      for (let i = 0; i < 8000 && refused < 200 && Date.now() - t0 < 20_000; i++) {
        try {
          p.send(counter, tuple(atom('seq'), accepted + 1, payload));
          accepted++;
        } catch (e) {
          if (!(e instanceof NodeError && e.code === 'ERR_BUSY')) throw e;
          refused++;
          await sleep(1);
        }
        maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
        if (i % 64 === 0) await sleep(0);
      }
      const rssGrowth = process.memoryUsage().rss - rss0;
      t.comment(`frozen peer: ${accepted} messages accepted (${((accepted * MSG) / 1048576).toFixed(1)} MB, most in the kernel's socket buffers), ${refused} refused, at most ${maxBuffered} bytes buffered, rss +${(rssGrowth / 1048576).toFixed(1)} MB`);
      t.ok(refused > 0, 'sends were refused while the peer did not read');
      t.ok(maxBuffered <= LIMIT + SLACK, `buffer ${maxBuffered} <= limit + one message`);
      // The node's own signals are never refused: a monitor still goes out while busy.
      const w = node.spawn();
      t.doesNotThrow(() => w.monitor({ name: 'counter', node: erlName }), "the node's own signals are not refused");
      resume(erl);
      const [n, inOrder] = await count(p);
      t.equal(n, accepted, 'every accepted message arrived');
      t.equal(inOrder, true, 'in order');
      t.notOk(conn.closed, 'the connection survived');
    });

    t.test("onBusy 'wait': sendAsync waits for room; nothing is lost", async (t) => {
      const node = await Node.start({ name: `jsbpw${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, busyLimitBytes: LIMIT });
      t.teardown(() => node.stop());
      t.equal(node.onBusy, 'wait');
      const p = node.spawn();
      await reset(p);
      const conn = node.connection(erlName)!;
      process.kill(erl.pid, 'SIGSTOP');
      const total = 2000; // 32 MB: more than the kernel buffers hold
      let sent = 0;
      let maxBuffered = 0;
      const ac = new AbortController();
      const sending = (async () => {
        for (let i = 1; i <= total; i++) {
          await p.sendAsync(counter, tuple(atom('seq'), i, payload), { signal: ac.signal });
          sent = i;
          maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
        }
      })();
      await sleep(1500);
      const stalledAt = sent;
      t.ok(stalledAt < total, `the sender waits while the peer is frozen (${stalledAt} of ${total} queued)`);
      t.ok(conn.busy, 'the connection is busy');
      t.equal(p.send(counter, atom('not_counted')), false, 'p.send returns false while busy (and still queues)');
      t.ok(maxBuffered <= LIMIT + SLACK, `buffer ${maxBuffered} <= limit + one message`);
      resume(erl);
      const guard = setTimeout(() => ac.abort(), 60_000);
      await sending.catch(() => undefined);
      clearTimeout(guard);
      t.equal(sent, total, 'the sender finished once the peer read again');
      t.comment(`sendAsync stalled at ${stalledAt}/${total}; buffer peaked at ${maxBuffered} bytes (limit ${LIMIT})`);
      const [n, inOrder] = await count(p);
      t.equal(n, total, 'every message arrived');
      t.equal(inOrder, true, 'in order');
    });
  });
}
