// Floods from an authenticated peer at full size (issue 15; the test suite
// runs them scaled down in test/dist/wire-floods-erl.test.ts):
//   1. a 200 MiB message from erl: the live memory while it arrives (after
//      full GCs, at the large allocations and at delivery) and the resident
//      peak without forced GCs, against the message size;
//   2. a 58 KB compressed term that inflates to a 60-million-element list
//      (inside the 64 MiB inflate cap): the time decode() takes to refuse it
//      under the default element limit (--unbounded also decodes it without
//      a limit, which takes seconds and gigabytes);
//   3. 100,000 new atoms from erl, held then released: the beambridge node's
//      heap and atom count while held and after, against what the same flood
//      costs an erl node (erlang:memory(), where atoms stay forever).
//
//   npm run bench:floods               (builds, then runs this file)
//   node --expose-gc bench/floods.mjs  (uses the last build in dist/)
//
// Environment: BENCH_BIG_MB (default 200), BENCH_ATOMS (default 100000).
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { table } from './stats.mjs';

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { atom, atomCount, decode, tuple, Tuple, DEFAULT_MAX_ELEMENTS } = await import(new URL('../dist/etf/index.js', import.meta.url).href);
const { startEpmd, startErlNode } = await import(new URL('../dist/testing/index.js', import.meta.url).href);

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc (npm run bench:floods does)');
const MB = 1024 * 1024;
const BIG = Number(process.env.BENCH_BIG_MB ?? 200) * MB;
const ATOMS = Number(process.env.BENCH_ATOMS ?? 100_000);
const COOKIE = `floods${process.pid}`;
const uniq = process.pid.toString(36);
const mib = (n) => `${(n / MB).toFixed(1)} MiB`;
const status = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const isTag = (tag) => (m) => m instanceof Tuple && m.elements[0] === atom(tag);
// Two full GCs: V8 sweeps dead array buffers concurrently, and one gc() can
// read them before the sweep finished (test/dist/wire-floods.test.ts).
const live = () => {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
};
/** Full GCs until dead atoms' table entries are gone (the FinalizationRegistry runs between tasks). */
async function settle() {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
    if (atomCount() === last && i > 3) return;
    last = atomCount();
  }
}

const epmdPort = await startEpmd();
const erl = (name, evalExpr) =>
  startErlNode({ name, cookie: COOKIE, epmdPort, modules: [fileURLToPath(new URL('../test/erl/bb_flood.erl', import.meta.url))], eval: evalExpr });
const senderName = `fsend${uniq}@127.0.0.1`;
const erlSinkName = `fsink${uniq}@127.0.0.1`;
await Promise.all([erl(senderName), erl(erlSinkName, 'register(floodsink, spawn(fun L() -> receive _ -> L() end end))')]);
const jsName = `fjs${uniq}@127.0.0.1`;
const node = await Node.start({ name: jsName, cookie: COOKIE, epmd: { port: epmdPort } });
const rows = [];
try {
  if (!(await node.ping(senderName)) || !(await node.ping(erlSinkName))) throw new Error('cannot reach the erl nodes');

  // ------------------------------------------------ 1. a large message
  {
    const p = node.spawn({ name: 'big' });
    const large = [];
    let peak = 0;
    const orig = { allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow, concat: Buffer.concat };
    const watch = (f, sizeOf) => (...a) => {
      const n = sizeOf(...a);
      if (n >= MB) {
        large.push(n);
        peak = Math.max(peak, live() + n);
      }
      return f(...a);
    };
    const receive = async () => {
      const m = await p.receive({ timeoutMs: 300_000, match: isTag('big') });
      if (m.elements[1].length !== BIG) throw new Error('short message');
    };
    const to = tuple(atom('big'), atom(jsName));
    // Live memory, with full GCs where it can peak.
    Buffer.allocUnsafe = watch(orig.allocUnsafe, (n) => n);
    Buffer.allocUnsafeSlow = watch(orig.allocUnsafeSlow, (n) => n);
    Buffer.concat = watch(orig.concat, (l, n) => n ?? l.reduce((x, b) => x + b.length, 0));
    const base = live();
    try {
      await node.rpc(senderName, 'bb_flood', 'big_binary', [to, BIG], { timeoutMs: 300_000 });
      await receive();
      peak = Math.max(peak, live());
    } finally {
      Object.assign(Buffer, orig);
    }
    // The resident peak, as it comes (the socket's chunks stay until V8 collects them).
    live();
    writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM
    const rss0 = status('VmRSS');
    await node.rpc(senderName, 'bb_flood', 'big_binary', [to, BIG], { timeoutMs: 300_000 });
    await receive();
    const rssPeak = status('VmHWM') - rss0;
    rows.push([`${mib(BIG)} message: live memory at its peak`, mib(peak - base), `${((peak - base) / BIG).toFixed(2)}x the message (${large.length} allocation of 1 MiB or more)`]);
    rows.push([`${mib(BIG)} message: resident peak, no forced GC`, mib(rssPeak), `${(rssPeak / BIG).toFixed(2)}x the message`]);
    p.exit();
  }

  // ------------------------------------------------- 2. a compressed bomb
  {
    // 131, 80, Size, zlib(108, Len:32, Len x NIL_EXT, NIL_EXT): a list of 60 million empty lists.
    const n = 60_000_000;
    const inner = Buffer.alloc(5 + n + 1, 106);
    inner[0] = 108;
    inner.writeUInt32BE(n, 1);
    const z = deflateSync(inner, { level: 9 });
    const bomb = Buffer.concat([Buffer.of(131, 80, 0, 0, 0, 0), z]);
    bomb.writeUInt32BE(inner.length, 2);
    const t0 = performance.now();
    let code;
    try {
      decode(bomb);
    } catch (e) {
      code = e.code;
    }
    const ms = performance.now() - t0;
    rows.push([`${(bomb.length / 1024).toFixed(0)} KB compressed, ${n / 1e6} M elements`, `${ms.toFixed(0)} ms`, `refused (${code}) under the default limit of ${DEFAULT_MAX_ELEMENTS / 1e6} M`]);
    if (process.argv.includes('--unbounded')) {
      gc();
      const rss0 = status('VmRSS');
      const t1 = performance.now();
      const list = decode(bomb, { maxElements: Infinity });
      const ms1 = performance.now() - t1;
      rows.push(['  the same without a limit', `${ms1.toFixed(0)} ms`, `${list.length} elements, resident +${mib(status('VmRSS') - rss0)}`]);
    }
  }

  // ------------------------------------------------------ 3. an atom flood
  {
    const p = node.spawn({ name: 'floodsink' });
    const flood = async (prefix, to) =>
      node.rpc(senderName, 'bb_flood', 'atoms', [to, [...prefix].map((c) => c.charCodeAt(0)), ATOMS], { timeoutMs: 300_000 });
    await settle();
    const a0 = atomCount();
    const h0 = process.memoryUsage().heapUsed;
    await flood(`fa_${uniq}_`, tuple(atom('floodsink'), atom(jsName)));
    await p.receive({ timeoutMs: 300_000, match: isTag('flood_done') });
    await settle();
    const held = process.memoryUsage().heapUsed - h0;
    const heldAtoms = atomCount() - a0;
    while (p.mailbox.size > 0) await p.receive({ timeoutMs: 0 });
    await settle();
    const after = process.memoryUsage().heapUsed - h0;
    const afterAtoms = atomCount() - a0;
    // The same flood to an erl node.
    const e0 = await node.rpc(erlSinkName, 'erlang', 'memory', []);
    await flood(`fe_${uniq}_`, tuple(atom('floodsink'), atom(erlSinkName)));
    await node.rpc(erlSinkName, 'erlang', 'garbage_collect', []);
    const e1 = await node.rpc(erlSinkName, 'erlang', 'memory', []);
    const total = (m) => Number(m.find((x) => x.elements[0] === atom('total')).elements[1]);
    const atomMem = (m) => Number(m.find((x) => x.elements[0] === atom('atom')).elements[1]);
    rows.push([`${ATOMS / 1000}k new atoms, held in a mailbox`, mib(held), `heap growth, ${heldAtoms} atoms interned (with their messages)`]);
    rows.push(['  once the messages are gone', mib(after), `${afterAtoms} atoms left (${((100 * afterAtoms) / ATOMS).toFixed(1)}%, the bounded caches)`]);
    rows.push(['  the same flood to an erl node', mib(total(e1) - total(e0)), `erlang:memory(total) growth after a GC; the atom table's ${mib(atomMem(e1) - atomMem(e0))} of it never shrinks`]);
    p.exit();
  }

  console.log(`floods from an authenticated erl peer (Node ${process.version}):`);
  console.log(table(['flood', 'figure', ''], rows));
} finally {
  await node.stop();
  process.exit(process.exitCode ?? 0);
}
