// Staying bounded under floods from an authenticated erl peer (issue 15),
// scaled down (bench/floods.mjs runs the full sizes):
// - a large message is assembled into one buffer that grows as it arrives:
//   the peak memory while it arrives stays near its size (not the chunks
//   plus their concatenation);
// - the decoded-element limit refuses a term over it before building it,
//   from Node's options through to the connection, and decode() refuses a
//   compressed bomb made by erl;
// - an atom flood's memory returns once the atoms are no longer referenced,
//   and a second flood does not add to what stays.
// Each test prints its figure. The system OTP only: the decoder is ours.
// (test/otp/floods-erl.test.ts has the node's floods: mailbox bound, memory
// guard, handshake cap.)
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Node } from '../../src/otp/index.js';
import { Tuple, atom, atomCount, decode, tuple, type Term } from '../../src/etf/index.js';
import type { DistError } from '../../src/dist/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const MB = 1024 * 1024;

const isTag = (tag: string) => (m: Term) => m instanceof Tuple && m.elements[0] === atom(tag);
const settle = async () => {
  // Full collections, and time for the FinalizationRegistry to drop dead atoms' entries.
  let last = -1;
  for (let i = 0; i < 100; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
    const n = atomCount();
    if (n === last && i > 3) break;
    last = n;
  }
};

t.test('floods from an erl peer', async (t) => {
  const epmdPort = await startEpmd(t);
  const erlName = `flood${uniq}@127.0.0.1`;
  await startErlNode(t, { name: erlName, cookie: 'c', epmdPort, root: '', modules: [erlModule('bb_flood')] });
  const jsName = `floodjs${uniq}@127.0.0.1`;
  const node = await Node.start({ name: jsName, cookie: 'c', epmd: { port: epmdPort } });
  t.teardown(() => node.stop());
  t.equal(await node.ping(erlName), true);

  t.test('a 32 MiB message: one buffer, live memory near its size', async (t) => {
    const SIZE = 32 * MB;
    const p = node.spawn({ name: 'big' });
    // The live memory (after a full GC) peaks either when the large buffer
    // is allocated (with whatever is held for the message by then) or when
    // the message is complete: sample both. Allocations of a megabyte or
    // more are recorded on the way.
    const large: number[] = [];
    let peak = 0;
    // Two collections: V8 sweeps dead array buffers concurrently after a full
    // GC, and the next GC first finishes that sweep, so only then does
    // `arrayBuffers` count just what is live (one gc() read up to 1.38x here
    // now and then, from received chunks not yet swept).
    const live = () => {
      gc();
      gc();
      return process.memoryUsage().arrayBuffers;
    };
    const orig = { allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow, concat: Buffer.concat };
    const watch = <A extends unknown[]>(f: (...a: A) => Buffer, sizeOf: (...a: A) => number) =>
      (...a: A): Buffer => {
        const n = sizeOf(...a);
        if (n >= MB) {
          large.push(n);
          peak = Math.max(peak, live() + n);
        }
        return f(...a);
      };
    Buffer.allocUnsafe = watch(orig.allocUnsafe, (n: number) => n) as typeof Buffer.allocUnsafe;
    Buffer.allocUnsafeSlow = watch(orig.allocUnsafeSlow, (n: number) => n) as typeof Buffer.allocUnsafeSlow;
    Buffer.concat = watch(orig.concat, (l: readonly Uint8Array[], n?: number) => n ?? l.reduce((x, b) => x + b.length, 0)) as typeof Buffer.concat;
    const base = live();
    let m: Tuple;
    try {
      const sent = await node.rpc(erlName, 'bb_flood', 'big_binary', [tuple(atom('big'), atom(jsName)), SIZE]);
      t.equal(sent, SIZE);
      m = (await p.receive({ timeoutMs: 60_000, match: isTag('big') })) as Tuple;
      peak = Math.max(peak, live());
    } finally {
      Object.assign(Buffer, orig);
    }
    const bin = m.elements[1] as Buffer;
    t.equal(bin.length, SIZE, 'the binary arrived whole');
    t.equal(bin.toString('latin1', SIZE - 16), '0123456789abcdef');
    t.ok(bin.buffer.byteLength < SIZE + MB, `a view of one buffer of ${(bin.buffer.byteLength / MB).toFixed(2)} MiB`);
    // The buffer grows as fragments arrive (1 MiB, 2 MiB), then takes the
    // whole promised size once 1/16 of it is here.
    const before = large.slice(0, -1).reduce((x, n) => x + n, 0);
    t.ok(large.length >= 1 && large[large.length - 1] < SIZE + MB && before <= SIZE / 8, `large allocations: ${large.map((n) => (n / MB).toFixed(2)).join(', ')} MiB`);
    const held = peak - base;
    t.comment(`32 MiB message: live memory peaked at ${(held / MB).toFixed(1)} MiB, ${(held / SIZE).toFixed(2)}x the message`);
    t.ok(held < 1.2 * SIZE, `peak ${(held / SIZE).toFixed(2)}x the message (the chunks plus their concatenation would be 2x)`);
    p.exit();
  });

  t.test('the decoded-element limit: refused before it is built', async (t) => {
    const limited = await Node.start({ name: `floodlim${uniq}@127.0.0.1`, cookie: 'c', epmd: { port: epmdPort }, maxElements: 100_000 });
    t.teardown(() => limited.stop());
    const p = limited.spawn({ name: 'lists' });
    const down = new Promise<DistError>((resolve) => limited.once('nodedown', (_peer: string, reason: DistError) => resolve(reason)));
    const to = tuple(atom('lists'), atom(limited.name));
    await node.rpc(erlName, 'bb_flood', 'list', [to, 200_000, atom('too_many')]);
    const reason = await down;
    const cause = reason.cause as { code?: string; message?: string };
    t.equal(reason.code, 'ERR_DIST_PROTOCOL', 'the connection that carried it is closed');
    t.equal(cause.code, 'ERR_DECODE_TOO_MANY_ELEMENTS', `refused: ${cause.message}`);
    t.equal(p.mailbox.size, 0, 'nothing delivered');
    t.equal(await limited.ping(erlName), true, 'connected again');
    // {fits, List}: the tuple, its two elements and the list's: 99,997 in all.
    await node.rpc(erlName, 'bb_flood', 'list', [to, 99_997 - 3, atom('fits')]);
    const m = (await p.receive({ timeoutMs: 30_000, match: isTag('fits') })) as Tuple;
    t.equal((m.elements[1] as Term[]).length, 99_994, 'a term within the limit arrives');

    // A compressed bomb made by erl: 2.4 KB that inflate to 2.4 MB and decode to 1.2 million elements.
    const q = node.spawn({ name: 'bombs' });
    const size = await node.rpc(erlName, 'bb_flood', 'bomb', [tuple(atom('bombs'), atom(jsName)), 1_200_000, atom('bomb')]);
    const bytes = ((await q.receive({ timeoutMs: 30_000, match: isTag('bomb') })) as Tuple).elements[1] as Buffer;
    t.equal(bytes.length, size);
    const t0 = performance.now();
    t.throws(() => decode(bytes, { maxElements: 1_000_000 }), { code: 'ERR_DECODE_TOO_MANY_ELEMENTS' });
    const refused = performance.now() - t0;
    const t1 = performance.now();
    t.equal((decode(bytes, { maxElements: 2_000_000 }) as Term[]).length, 1_200_000, 'under a higher limit it decodes');
    const decoded = performance.now() - t1;
    t.comment(`${bytes.length}-byte bomb of 1.2 M elements: refused in ${refused.toFixed(1)} ms (inflating included), decoded in ${decoded.toFixed(1)} ms`);
    q.exit();
  });

  t.test("an atom flood's memory returns", async (t) => {
    const N = 30_000;
    // Retained at most: the atom table's recent-atoms cache (4096), the
    // decoder's atom lookup cache (4096 slots), the connection's atom cache (2048).
    const BOUND = 4096 + 4096 + 2048;
    const p = node.spawn({ name: 'floodsink' });
    const to = tuple(atom('floodsink'), atom(jsName));
    const flood = async (prefix: string) => {
      await node.rpc(erlName, 'bb_flood', 'atoms', [to, [...prefix].map((c) => c.charCodeAt(0)), N]);
      // Wait for the end marker (bounded), leaving the flood in the mailbox.
      await p.receive({ timeoutMs: 60_000, match: isTag('flood_done') });
    };
    await settle();
    const a0 = atomCount();
    const h0 = process.memoryUsage().heapUsed;
    await flood(`flood_a_${uniq}_`);
    t.equal(p.mailbox.size, N, 'the flood is held in the mailbox');
    await settle();
    const a1 = atomCount();
    const h1 = process.memoryUsage().heapUsed;
    while (p.mailbox.size > 0) await p.receive({ timeoutMs: 0 });
    await settle();
    const a2 = atomCount();
    const h2 = process.memoryUsage().heapUsed;
    await flood(`flood_b_${uniq}_`);
    while (p.mailbox.size > 0) await p.receive({ timeoutMs: 0 });
    await settle();
    const a3 = atomCount();
    const h3 = process.memoryUsage().heapUsed;
    const kb = (x: number) => `${(x / 1024).toFixed(0)} KB`;
    t.comment(
      `${N} new atoms: +${a1 - a0} atoms and +${kb(h1 - h0)} of heap while held (with their messages); ` +
        `after: +${a2 - a0} atoms, +${kb(h2 - h0)}; after a second flood: +${a3 - a0} atoms, +${kb(h3 - h0)}`,
    );
    t.ok(a1 - a0 >= N, 'every atom alive while its message is held');
    t.ok(a2 - a0 <= BOUND, `atoms left after the flood: ${a2 - a0} (at most the bounded caches, ${BOUND})`);
    t.ok(a3 - a0 <= BOUND, `and after a second one: ${a3 - a0}`);
    t.ok(h2 - h0 < (h1 - h0) / 2, 'most of the heap the flood took is back');
    t.ok(h3 - h0 < (h1 - h0) / 2, 'a second flood leaves no more behind');
    p.exit();
  });
});
