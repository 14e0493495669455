// The one keepalive helper (src/keepalive.ts): it sets keepalive, the probe
// interval and count and TCP_USER_TIMEOUT, and it is the only place that
// loads net-keepalive's native FFI binding, on the first socket that needs it.
// Importing the codec, or the whole package, loads no native module: checked
// in fresh node processes against the build (`npm test` builds first; the
// packed-tarball version of this check is scripts/pack-check.mjs).
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { applyKeepAlive } from '../src/keepalive.js';
import { socketPair } from '../src/testing/index.js';

const dist = (p: string) => fileURLToPath(new URL(`../dist/${p}`, import.meta.url));

/** Runs `code` (an ES module) in a fresh node and parses the JSON it prints. */
function fresh(code: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 60_000 }, (e, stdout, stderr) =>
      e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as Record<string, unknown>),
    ),
  );
}

const NATIVE = "process.report.getReport().sharedObjects.filter((s) => s.endsWith('.node'))";

t.test('importing the codec or the package loads no native module', async (t) => {
  const codec = await fresh(`
    const { encode, decode } = await import(${JSON.stringify(dist('etf/index.js'))});
    decode(encode([1, 'two', 3.5]));
    console.log(JSON.stringify({ native: ${NATIVE} }));`);
  t.same(codec.native, [], 'beambridge/etf: encode and decode, and no .node file loaded');
  const root = await fresh(`
    const b = await import(${JSON.stringify(dist('index.js'))});
    b.decode(b.encode(b.term\`{ok, \${1}}\`));
    console.log(JSON.stringify({ native: ${NATIVE} }));`);
  t.same(root.native, [], 'the root export: no .node file loaded');
  const used = await fresh(`
    const net = await import('node:net');
    const { applyKeepAlive } = await import(${JSON.stringify(dist('keepalive.js'))});
    const before = ${NATIVE};
    const srv = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const s = net.connect(srv.address().port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const ok = applyKeepAlive(s, {}, { idleMs: 1000, intervalMs: 1000, probes: 2, userTimeoutMs: 5000 });
    console.log(JSON.stringify({ before, ok, after: ${NATIVE} }));
    s.destroy(); srv.close();`);
  t.same(used.before, [], 'nothing native before the first socket asks');
  t.equal(used.ok, true, 'the helper set every option');
  t.ok((used.after as string[]).some((f) => /ffi-rs/.test(f)), `the FFI binding loads on first use: ${JSON.stringify(used.after)}`);
});

t.test('applyKeepAlive sets the options, each defaulting to the layer defaults', async (t) => {
  const [a] = await socketPair(t);
  const nk = createRequire(import.meta.url)('net-keepalive') as {
    getKeepAliveInterval(s: Socket): number;
    getKeepAliveProbes(s: Socket): number;
    getUserTimeout(s: Socket): number;
  };
  const defaults = { idleMs: 3000, intervalMs: 3000, probes: 5, userTimeoutMs: 9000 };
  t.equal(applyKeepAlive(a, {}, defaults), true, 'applied with the defaults');
  t.equal(nk.getKeepAliveInterval(a), 3000, 'default interval');
  t.equal(nk.getKeepAliveProbes(a), 5, 'default probe count');
  t.equal(nk.getUserTimeout(a), 9000, 'default TCP_USER_TIMEOUT');
  t.equal(applyKeepAlive(a, { intervalMs: 2000, probes: 3, userTimeoutMs: 4000 }, defaults), true, 'applied with options');
  t.equal(nk.getKeepAliveInterval(a), 2000, 'the given interval wins');
  t.equal(nk.getKeepAliveProbes(a), 3, 'the given probe count wins');
  t.equal(nk.getUserTimeout(a), 4000, 'the given TCP_USER_TIMEOUT wins');
  a.destroy();
  t.equal(applyKeepAlive(a, {}, defaults), false, 'a destroyed socket: false, and no throw');
});
