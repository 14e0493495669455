// Hostile and unauthenticated peers, in process, bounded in count and time:
// - 2,000 connections that send a name and a wrong digest: each is refused
//   with ERR_BAD_COOKIE, no atom is interned (the atom table's size, and the
//   Atom objects on the heap counted through the inspector, which also sees
//   atoms made outside the table), and no handshake stays in progress;
// - peers that stall at each handshake step are dropped at the deadline;
// - 1,000 hostile peers against an accepting side and 1,000 hostile servers
//   against a dialing side (garbage, truncated messages and frames, oversized
//   lengths, unknown control tags...): each time only that connection drops,
//   with a typed error to log, other connections keep working, and there is no
//   unhandled rejection or exception.
import t from 'tap';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import {
  acceptHandshake,
  initiateHandshake,
  connectTcp,
  dial,
  liveHandshakes,
  ctrl,
  DistConnection,
  DistEncoder,
  DistError,
  DEFAULT_DFLAGS,
  type ControlMessage,
} from '../../src/dist/index.js';
import { Atom, atom, atomCount, encode, tuple, Pid } from '../../src/etf/index.js';
import { uniq } from './harness.js';
import { until } from '../helpers/until.js';
import type { Teardownable } from '../../src/testing/index.js';

// ------------------------------------------------------------------ helpers

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
process.on('uncaughtException', onUnhandled);
t.teardown(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

/** Live Atom objects on the heap (after a GC), and how many have `marker` in their name. */
async function atomCensus(marker: string): Promise<{ total: number; marked: number }> {
  const s = new Session();
  s.connect();
  try {
    (globalThis as Record<string, unknown>).__bbAtomProto = Atom.prototype;
    const { result } = await s.post('Runtime.evaluate', { expression: 'globalThis.__bbAtomProto' });
    const { objects } = await s.post('Runtime.queryObjects', { prototypeObjectId: result.objectId! });
    const r = await s.post('Runtime.callFunctionOn', {
      objectId: objects.objectId!,
      functionDeclaration: 'function (m) { return { total: this.length, marked: this.filter((a) => a.name.includes(m)).length }; }',
      arguments: [{ value: marker }],
      returnByValue: true,
    });
    return r.result.value as { total: number; marked: number };
  } finally {
    s.disconnect();
    delete (globalThis as Record<string, unknown>).__bbAtomProto;
  }
}

/** Runs `n` jobs, `width` at a time. */
async function pool(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

function frame(body: Buffer): Buffer {
  const l = Buffer.alloc(4);
  l.writeUInt32BE(body.length);
  return Buffer.concat([l, body]);
}

function hsMessage(body: Buffer): Buffer {
  const l = Buffer.alloc(2);
  l.writeUInt16BE(body.length);
  return Buffer.concat([l, body]);
}

/** A send_name ('N', erl_dist_protocol "Distribution Handshake") for `name`. */
function sendName(name: string, flags = DEFAULT_DFLAGS): Buffer {
  const nb = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(15 + nb.length);
  b[0] = 0x4e;
  b.writeBigUInt64BE(flags, 1);
  b.writeUInt32BE(7, 9);
  b.writeUInt16BE(nb.length, 13);
  nb.copy(b, 15);
  return b;
}

/** The end of one connection as the side under test saw it. */
interface Outcome {
  stage: 'handshake' | 'connection';
  err: DistError | undefined;
  /** Messages received on the connection before it dropped. */
  messages: number;
}

/** Get-or-create promises keyed by TCP port, filled by whichever side learns first. */
class ByPort<T> {
  private readonly m = new Map<number, { p: Promise<T>; resolve: (o: T) => void }>();
  slot(port: number): { p: Promise<T>; resolve: (o: T) => void } {
    let s = this.m.get(port);
    if (!s) {
      let resolve!: (o: T) => void;
      const p = new Promise<T>((r) => (resolve = r));
      s = { p, resolve };
      this.m.set(port, s);
    }
    return s;
  }
  take(port: number): Promise<T> {
    const p = this.slot(port).p;
    return p.finally(() => this.m.delete(port));
  }
}
class Outcomes extends ByPort<Outcome> {}

async function listen(t: Teardownable, onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { server, port: (server.address() as { port: number }).port };
}

/** The accepting side under test: every socket handshakes, then becomes a connection; outcomes by client port. */
async function acceptor(t: Teardownable, name: string, timeoutMs: number) {
  const outcomes = new Outcomes();
  const connections = new Set<DistConnection>();
  const creation = 0x1234;
  const { port } = await listen(t, (sock) => {
    const slot = outcomes.slot(sock.remotePort!);
    acceptHandshake(sock, { name, cookie: 'c', creation, timeoutMs }).then(
      (hs) => {
        const c = new DistConnection(hs, {});
        let messages = 0;
        connections.add(c);
        c.on('message', () => messages++);
        c.on('close', (err?: DistError) => {
          connections.delete(c);
          slot.resolve({ stage: 'connection', err, messages });
        });
      },
      (err: DistError) => slot.resolve({ stage: 'handshake', err, messages: 0 }),
    );
  });
  t.teardown(() => {
    for (const c of connections) c.close();
  });
  return { port, outcomes, connections, creation };
}

async function rawConnect(port: number): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

const tally = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

// ------------------------------------------------------------------ tests

t.test('2,000 unauthenticated peers: nothing interned, nothing kept', async (t) => {
  const server = `auth${uniq}@127.0.0.1`;
  const a = await acceptor(t, server, 5000);
  const marker = `zq${uniq}x`;
  const before = await atomCensus(marker);
  const internedBefore = atomCount();
  const heapBefore = process.memoryUsage().heapUsed;
  const codes = new Map<string, number>();
  const N = 2000;
  let maxLive = 0;
  await pool(N, 32, async (i) => {
    const s = await rawConnect(a.port);
    const outcome = a.outcomes.take(s.localPort!);
    // A real initiator with the wrong cookie: name, status, challenge, wrong digest.
    const mine = await initiateHandshake(s, { name: `${marker}${i}@127.0.0.1`, cookie: 'not-the-cookie', creation: 1, peer: server, timeoutMs: 5000 }).then(
      () => 'accepted?!',
      (e: DistError) => e.code,
    );
    maxLive = Math.max(maxLive, liveHandshakes());
    const o = await outcome;
    tally(codes, `${mine} / ${o.stage}:${o.err?.code}`);
  });
  t.same([...codes], [[`ERR_BAD_COOKIE / handshake:ERR_BAD_COOKIE`, N]], `all ${N} refused with ERR_BAD_COOKIE on both ends`);
  t.equal(a.connections.size, 0, 'no connection made');
  await until(() => liveHandshakes() === 0);
  t.equal(liveHandshakes(), 0, `no handshake in progress afterwards (at most ${maxLive} at once during the run)`);
  const after = await atomCensus(marker);
  t.equal(after.marked, 0, 'no atom made from any unauthenticated peer name');
  t.equal(after.total, before.total, `atom count unchanged (${before.total} -> ${after.total})`);
  t.ok(atomCount() <= internedBefore, `no atom interned (${internedBefore} -> ${atomCount()}; collected ones may leave)`);
  const heapAfter = process.memoryUsage().heapUsed;
  t.comment(`heap ${(heapBefore / 1e6).toFixed(1)} MB -> ${(heapAfter / 1e6).toFixed(1)} MB after ${N} refused handshakes`);
});

t.test('handshake deadlines: a peer stalling at any step is dropped', async (t) => {
  const server = `dl${uniq}@127.0.0.1`;
  const a = await acceptor(t, server, 300);
  const stalls: [string, (s: Socket) => Promise<void>][] = [
    ['connects and says nothing', async () => {}],
    ['half a length prefix', async (s) => void s.write(Buffer.of(0))],
    ['half a send_name', async (s) => void s.write(hsMessage(sendName(`half${uniq}@127.0.0.1`)).subarray(0, 9))],
    [
      'name, then no challenge reply',
      async (s) => {
        s.write(hsMessage(sendName(`mute${uniq}@127.0.0.1`)));
      },
    ],
  ];
  for (const [what, act] of stalls) {
    const s = await rawConnect(a.port);
    const outcome = a.outcomes.take(s.localPort!);
    s.resume();
    await act(s);
    const o = await outcome;
    t.equal(o.err?.code, 'ERR_HANDSHAKE_TIMEOUT', `${what}: ${o.err?.message}`);
    if (!s.destroyed) await once(s, 'close');
  }
  // The dialing side has the same deadline: a server that accepts and never answers.
  const { port } = await listen(t, (s) => s.resume());
  await t.rejects(dial(`silent${uniq}@127.0.0.1`, { port, name: `dd${uniq}@127.0.0.1`, cookie: 'c', creation: 1, timeoutMs: 300 }), {
    code: 'ERR_HANDSHAKE_TIMEOUT',
  });
  t.equal(liveHandshakes(), 0);
});

/** A valid REG_SEND frame from `from`, pass-through encoded. */
function validFrame(from: Pid): Buffer {
  const enc = new DistEncoder({ flags: 0n });
  return Buffer.concat(enc.encode(tuple(6, from, atom(''), atom('x')), 'ok'));
}

t.test('1,000 hostile peers against an accepting side', async (t) => {
  const server = `acc${uniq}@127.0.0.1`;
  const a = await acceptor(t, server, 2000);
  // A well-behaved peer that stays connected throughout.
  const goodSock = await rawConnect(a.port);
  const goodOutcome = a.outcomes.take(goodSock.localPort!);
  const goodName = `good${uniq}@127.0.0.1`;
  await initiateHandshake(goodSock, { name: goodName, cookie: 'c', creation: 9, peer: server });
  goodSock.resume();
  const goodFrom = new Pid(atom(goodName), 1, 0, 9);

  const from = new Pid(atom(`hx${uniq}@127.0.0.1`), 1, 0, 5);
  const valid = validFrame(from);
  const pre: [string, Buffer][] = [
    ['garbage instead of send_name', hsMessage(Buffer.concat([Buffer.of(0x21), randomBytes(63)]))],
    ['oversized handshake length', Buffer.of(0xff, 0xff, 0x4e, 1, 2, 3)],
    ['old version-5 name message', hsMessage(Buffer.concat([Buffer.of(0x6e, 0, 5), Buffer.alloc(4), Buffer.from('a@b')]))],
    ['name that is not UTF-8', hsMessage(Buffer.concat([sendName('xx@127.0.0.1').subarray(0, 13), Buffer.of(0, 3, 0xff, 0x40, 0x61)]))],
    ['name without a host', hsMessage(sendName('nohost'))],
    ['name missing required flags', hsMessage(sendName(`weak${uniq}@127.0.0.1`, 0n))],
    ['truncated send_name, then FIN', hsMessage(sendName(`tr${uniq}@127.0.0.1`)).subarray(0, 12)],
  ];
  const post: [string, Buffer][] = [
    ['garbage frame', frame(Buffer.concat([Buffer.of(0xde, 0xad), randomBytes(30)]))],
    ['oversized frame length', Buffer.of(0xff, 0xff, 0xff, 0xf0, 1, 2)],
    ['unknown control tag', frame(Buffer.concat([Buffer.of(112), encode(tuple(99, from))]))],
    ['control not a tuple', frame(Buffer.concat([Buffer.of(112), encode(atom('nope'))]))],
    ['truncated term', frame(Buffer.concat([Buffer.of(112), encode(tuple(6, from, atom(''), atom('x'))).subarray(0, 12)]))],
    ['empty atom cache slot', frame(Buffer.of(131, 68, 1, 0x00, 5, 104, 1, 82, 0))],
    ['unknown fragment continuation', frame(Buffer.concat([Buffer.of(131, 70), Buffer.alloc(15), Buffer.of(1)]))],
    ['truncated frame, then FIN', frame(randomBytes(100)).subarray(0, 40)],
  ];
  const N = 1000;
  const codes = new Map<string, number>();
  let bad = 0;
  await pool(N, 8, async (i) => {
    const postPhase = i % 2 === 1;
    const list = postPhase ? post : pre;
    const [what, bytes] = list[Math.floor(i / 2) % list.length];
    const s = await rawConnect(a.port);
    const outcome = a.outcomes.take(s.localPort!);
    s.resume();
    if (postPhase) {
      await initiateHandshake(s, { name: `h${i}x${uniq}@127.0.0.1`, cookie: 'c', creation: 5, peer: server });
      s.resume();
      s.write(Buffer.concat([valid, bytes])); // one valid message first, in the same write
    } else {
      s.write(bytes);
    }
    if (what.endsWith('FIN')) s.end();
    const o = await outcome;
    s.destroy();
    const code = o.err?.code ?? 'none';
    tally(codes, `${o.stage} ${what}: ${code}`);
    const expected = postPhase
      ? o.stage === 'connection' && o.err instanceof DistError && o.messages === 1
      : o.stage === 'handshake' && o.err instanceof DistError;
    if (!expected || !o.err?.message) {
      bad++;
      if (bad < 5) t.fail(`${what}: ${o.stage} ${code} ${o.err?.message} (${o.messages} messages)`);
    }
  });
  t.equal(bad, 0, `all ${N} hostile peers dropped with a typed error at the right stage`);
  for (const [k, n] of [...codes].sort()) t.comment(`${n} x ${k}`);
  t.match([...codes.keys()].filter((k) => k.startsWith('connection') && !/FIN/.test(k)).join('\n'), /ERR_(DIST_PROTOCOL|FRAME_TOO_LARGE)/);
  t.ok(
    [...codes.keys()].filter((k) => k.startsWith('connection') && !/FIN/.test(k)).every((k) => /ERR_(DIST_PROTOCOL|FRAME_TOO_LARGE)$/.test(k)),
    'malformed frames are ERR_DIST_PROTOCOL or ERR_FRAME_TOO_LARGE',
  );
  t.ok(
    [...codes.keys()].filter((k) => k.startsWith('handshake')).every((k) => /ERR_HANDSHAKE_(PROTOCOL|NAME|REFUSED)$|FIN: ERR_CONNECTION_CLOSED$/.test(k)),
    'malformed handshakes are ERR_HANDSHAKE_*',
  );

  // The good peer is still connected and served; a new peer is still accepted.
  goodSock.write(validFrame(goodFrom));
  const late = await rawConnect(a.port);
  const lateOutcome = a.outcomes.take(late.localPort!);
  const hs = await initiateHandshake(late, { name: `late${uniq}@127.0.0.1`, cookie: 'c', creation: 3, peer: server });
  t.equal(hs.peer, server, 'the listener still accepts after 1,000 hostile peers');
  await until(() => a.connections.size === 2);
  t.equal(a.connections.size, 2, 'the good peer and the new one are connected');
  goodSock.destroy();
  late.destroy();
  t.match(await goodOutcome, { stage: 'connection', err: { code: 'ERR_CONNECTION_CLOSED' }, messages: 1 }, 'the good peer was served to the end');
  await lateOutcome;
  t.equal(liveHandshakes(), 0);
  t.same(unhandled, [], 'no unhandled rejection or exception');
});

t.test('1,000 hostile servers against a dialing side', async (t) => {
  const ours = `dia${uniq}@127.0.0.1`;
  const peer = `srv${uniq}@127.0.0.1`;
  // Which misbehaviour the fake server plays, by the dialer's local port.
  const rounds = new ByPort<number>();
  const from = new Pid(atom(peer), 1, 0, 5);
  const valid = validFrame(from);
  // Misbehaviours before the handshake completes (the fake server speaks first or answers wrong).
  const pre: [string, (s: Socket) => void][] = [
    ['garbage instead of a status', (s) => s.write(hsMessage(Buffer.concat([Buffer.of(0x21), randomBytes(39)])))],
    ['oversized handshake length', (s) => s.write(Buffer.of(0xff, 0xff, 0x73))],
    ['unknown status', (s) => s.write(hsMessage(Buffer.from('swhatever')))],
    ['named: without NAME_ME', (s) => s.write(hsMessage(Buffer.from('snamed:\0\0')))],
    ['ok, then a short challenge', (s) => s.write(Buffer.concat([hsMessage(Buffer.from('sok')), hsMessage(Buffer.of(0x4e, 1, 2))]))],
    ['ok, then a challenge from another node', (s) => s.write(Buffer.concat([hsMessage(Buffer.from('sok')), hsMessage(challengeFrom('other@127.0.0.1'))]))],
    ['closes at once', (s) => s.destroy()],
    ['status truncated, then FIN', (s) => s.end(hsMessage(Buffer.from('sok')).subarray(0, 3))],
  ];
  function challengeFrom(name: string): Buffer {
    const n = sendName(name);
    return Buffer.concat([n.subarray(0, 9), Buffer.of(1, 2, 3, 4), n.subarray(9)]);
  }
  // Misbehaviours after a correct handshake (made with our own acceptHandshake on the fake side).
  const post: [string, Buffer][] = [
    ['garbage frame', frame(Buffer.concat([Buffer.of(0x01), randomBytes(30)]))],
    ['oversized frame length', Buffer.of(0xff, 0xff, 0xff, 0xf0)],
    ['unknown control tag', frame(Buffer.concat([Buffer.of(112), encode(tuple(77, from, from))]))],
    ['wrong arity', frame(Buffer.concat([Buffer.of(112), encode(tuple(6, from))]))],
    ['bad fragment header', frame(Buffer.of(131, 69, 0, 0))],
    ['truncated frame, then FIN', frame(randomBytes(64)).subarray(0, 10)],
  ];
  const { port } = await listen(t, async (s) => {
    const i = await rounds.take(s.remotePort!);
    if (i % 2 === 0) {
      s.resume();
      pre[Math.floor(i / 2) % pre.length][1](s);
      return;
    }
    const [what, bytes] = post[Math.floor(i / 2) % post.length];
    acceptHandshake(s, { name: peer, cookie: 'c', creation: 5 }).then(
      (hs) => {
        hs.socket.resume();
        hs.socket.write(Buffer.concat([valid, bytes]));
        if (what.endsWith('FIN')) hs.socket.end();
      },
      () => {},
    );
  });

  // A good connection on the dialing node that must survive all of it.
  const goodSrv = await acceptor(t, `goodsrv${uniq}@127.0.0.1`, 2000);
  const goodHs = await dial(`goodsrv${uniq}@127.0.0.1`, { port: goodSrv.port, name: ours, cookie: 'c', creation: 2 });
  const goodConn = new DistConnection(goodHs, {});
  t.teardown(() => goodConn.close());

  const N = 1000;
  const codes = new Map<string, number>();
  let bad = 0;
  await pool(N, 8, async (round) => {
    const postPhase = round % 2 === 1;
    const what = postPhase ? post[Math.floor(round / 2) % post.length][0] : pre[Math.floor(round / 2) % pre.length][0];
    let o: Outcome;
    try {
      // dial() without the EPMD step: the TCP connect, then the initiator handshake.
      const sock = await connectTcp('127.0.0.1', port, 2000);
      rounds.slot(sock.localPort!).resolve(round);
      const hs = await initiateHandshake(sock, { peer, name: ours, cookie: 'c', creation: 2, timeoutMs: 2000 });
      const c = new DistConnection(hs, {});
      let messages = 0;
      c.on('message', (m: ControlMessage) => void (m.kind === 'reg_send' && messages++));
      o = await new Promise<Outcome>((r) => c.once('close', (err?: DistError) => r({ stage: 'connection', err, messages })));
    } catch (e) {
      o = { stage: 'handshake', err: e as DistError, messages: 0 };
    }
    const code = o.err?.code ?? 'none';
    tally(codes, `${o.stage} ${what}: ${code}`);
    const ok = postPhase
      ? o.stage === 'connection' && o.err instanceof DistError && o.messages === 1
      : o.stage === 'handshake' && o.err instanceof DistError;
    if (!ok) {
      bad++;
      if (bad < 5) t.fail(`${what}: ${o.stage} ${code} ${o.err?.message}`);
    }
  });
  t.equal(bad, 0, `all ${N} hostile servers dropped with a typed error at the right stage`);
  for (const [k, n] of [...codes].sort()) t.comment(`${n} x ${k}`);
  t.ok(
    [...codes.keys()].filter((k) => k.startsWith('connection') && !/FIN/.test(k)).every((k) => /ERR_(DIST_PROTOCOL|FRAME_TOO_LARGE)$/.test(k)),
    'malformed frames are ERR_DIST_PROTOCOL or ERR_FRAME_TOO_LARGE',
  );
  t.notOk(goodConn.closed, 'the good connection survived');
  const me = new Pid(atom(ours), 1, 0, 2);
  goodConn.sendSignal(ctrl.regSend(me, atom('x'), 'still here'));
  goodConn.close();
  t.match(await goodSrv.outcomes.take(goodHs.socket.localPort!), { stage: 'connection', messages: 1 }, 'and delivered a message at the end');
  t.equal(liveHandshakes(), 0);
  t.same(unhandled, [], 'no unhandled rejection or exception');
});
