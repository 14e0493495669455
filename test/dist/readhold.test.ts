// DistConnection's read hold (DistConnectionOptions.readHoldMs /
// readHoldFrames): a read that brings many frames pauses reading for the
// hold, and nothing is lost or reordered; reads of few frames, a large
// message arriving in pieces, a read that filled the 64 KiB read buffer (the
// kernel holds more of the stream), and readHoldMs 0 never hold; closing
// while held is clean.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { initiateHandshake, DistEncoder, ctrl, type ControlMessage, type DistConnectionOptions } from '../../src/dist/index.js';
import { atom, Pid } from '../../src/etf/index.js';
import type { Teardownable } from '../../src/testing/index.js';
import { readHoldDefault } from '../../src/dist/connection.js';
import { Harness, uniq } from './harness.js';
import { waitUntil } from '../helpers/until.js';

const node = `hold${uniq}@127.0.0.1`;
let peers = 0;

/** A harness with these connection options and one raw peer connected to it. */
async function setup(t: Teardownable, connection: DistConnectionOptions) {
  const h = await Harness.start(t, { name: node, cookie: 'c', connection });
  const name = `holdpeer${++peers}${uniq}@127.0.0.1`;
  const s: Socket = connect({ port: h.port, host: '127.0.0.1' });
  t.teardown(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  const hs = await initiateHandshake(s, { name, cookie: 'c', creation: 5, peer: node });
  s.on('error', () => {});
  s.resume();
  await h.until(() => h.connections.length === 1);
  const c = h.connections[0];
  const enc = new DistEncoder({ flags: hs.flags });
  const from = new Pid(atom(name), 1, 0, 5);
  /** Frames of reg_send {x, Node} ! N for each N. */
  const frames = (ns: readonly number[]) => Buffer.concat(ns.flatMap((n) => enc.encode(ctrl.regSend(from, atom('x'), n).control, n)));
  const got: number[] = [];
  c.on('message', (m: ControlMessage) => {
    if (m.kind === 'reg_send') got.push(m.message as number);
  });
  return { c, s, frames, got };
}

/** Waits for `pred` (20 s at most, checked every 2 ms: a hold is short); fails the test with `what` otherwise. */
const arrives = (what: string, pred: () => boolean) => waitUntil(what, pred, 20_000, 2);

const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

t.test('a read of many frames holds reading, then everything arrives in order', async (t) => {
  // A hold long enough that a loaded machine still looks while it lasts (the
  // test waits for it once, at the end).
  const { c, s, frames, got } = await setup(t, { readHoldMs: 1500, readHoldFrames: 100 });
  s.write(frames(range(0, 300)));
  await arrives('100 frames read and a hold', () => got.length >= 100 && c.stats.readHolds > 0);
  t.ok(c.socket.isPaused(), 'reading is paused during the hold');
  // One write usually arrives in one read; if the kernel split it, each part of
  // >= 100 frames holds once more.
  t.ok(c.stats.readHolds >= 1 && c.stats.readHolds <= 3, `${c.stats.readHolds} hold(s) for 300 frames in one write`);
  s.write(frames(range(300, 10)));
  await arrives('all 310 frames', () => got.length === 310);
  t.same(got, range(0, 310), 'nothing lost or reordered');
  t.notOk(c.socket.isPaused(), 'reading again after the hold');
  // Small reads after the hold do not hold.
  const holds = c.stats.readHolds;
  for (let i = 0; i < 5; i++) {
    s.write(frames([1000 + i]));
    await arrives(`small write ${i}`, () => got.length === 311 + i);
  }
  t.equal(c.stats.readHolds, holds, 'the small reads added no hold');
});

t.test('reads of few frames, and a large message in pieces, never hold', async (t) => {
  const { c, s, frames, got } = await setup(t, { readHoldMs: 1000, readHoldFrames: 50 });
  for (let i = 0; i < 20; i++) {
    s.write(frames(range(i * 10, 10)));
    await arrives(`write ${i} of ten frames`, () => got.length === (i + 1) * 10);
  }
  t.equal(c.stats.readHolds, 0, 'ten frames per write: no hold');
  // One 2 MiB message: many reads of no complete frame, then one.
  const enc = new DistEncoder({ flags: c.flags, fragmentSize: 8 * 1024 * 1024 });
  const big = Buffer.alloc(2 * 1024 * 1024, 7);
  const sig = ctrl.regSend(new Pid(atom(c.peer), 1, 0, 5), atom('x'), big);
  const n0 = c.stats.messagesIn;
  s.write(Buffer.concat(enc.encode(sig.control, sig.payload)));
  await arrives('the 2 MiB message', () => c.stats.messagesIn === n0 + 1);
  t.equal(c.stats.readHolds, 0, 'a large message arriving in pieces: no hold');
});

t.test('a full 64 KiB read reads on; the read that empties the socket holds', async (t) => {
  const { c, frames, got } = await setup(t, { readHoldMs: 1000, readHoldFrames: 50 });
  // A backlog as libuv hands it over: reads that filled its 64 KiB buffer, then a shorter one.
  // Delivered to the connection's 'data' listener directly, so the split is exact.
  const all = frames(range(0, 5000));
  const full = Math.floor(all.length / 65536);
  t.ok(full >= 2 && all.length % 65536 > 0, `${all.length} bytes: ${full} full reads and a shorter one`);
  for (let i = 0; i < full; i++) c.socket.emit('data', all.subarray(i * 65536, (i + 1) * 65536));
  t.ok(got.length >= 50 * full, `${got.length} frames in the full reads`);
  t.equal(c.stats.readHolds, 0, 'full reads start no hold');
  t.notOk(c.socket.isPaused(), 'still reading');
  c.socket.emit('data', all.subarray(full * 65536));
  t.equal(got.length, 5000, 'every frame of all the reads');
  t.equal(c.stats.readHolds, 1, 'the shorter read, which emptied the socket, holds');
  t.ok(c.socket.isPaused(), 'reading is paused during the hold');
  t.same(got, range(0, 5000), 'nothing lost or reordered');
});

t.test('with readOn off (bench:dist A/B rows), a full read holds too', async (t) => {
  const { c, frames, got } = await setup(t, { readHoldMs: 1000, readHoldFrames: 50 });
  readHoldDefault.readOn = false;
  t.teardown(() => {
    readHoldDefault.readOn = true;
  });
  const all = frames(range(0, 5000));
  c.socket.emit('data', all.subarray(0, 65536));
  t.equal(c.stats.readHolds, 1, 'the full read held');
  t.ok(got.length >= 50);
});

t.test('readHoldMs 0 turns the hold off', async (t) => {
  const { c, s, frames, got } = await setup(t, { readHoldMs: 0, readHoldFrames: 10 });
  s.write(frames(range(0, 500)));
  await arrives('all 500 frames', () => got.length === 500);
  t.equal(c.stats.readHolds, 0);
  t.same(got, range(0, 500));
});

t.test('closing while held stops the hold cleanly', async (t) => {
  const { c, s, frames, got } = await setup(t, { readHoldMs: 200, readHoldFrames: 20 });
  s.write(frames(range(0, 100)));
  await arrives('20 frames read and a hold', () => c.stats.readHolds >= 1 && got.length >= 20);
  c.close();
  t.ok(c.closed);
  await new Promise((r) => setTimeout(r, 300));
  t.ok(got.length <= 100, 'nothing after close');
});

t.test('a one-way stream (nothing sent since the last read) holds from fewer frames', async (t) => {
  // readHoldFrames unset: 128 frames, or readHoldDefault.quietFrames (48) when quiet.
  const { c, frames, got } = await setup(t, { readHoldMs: 5 });
  const q = readHoldDefault.quietFrames;
  t.ok(q < readHoldDefault.frames);
  // Reads delivered to the 'data' listener directly, so that each is exactly one read (encoded in order).
  const part = (a: number, n: number) => frames(range(a, n));
  c.socket.emit('data', part(0, 2)); // the first read is never quiet
  t.equal(c.stats.readHolds, 0, 'two frames: no hold');
  c.socket.emit('data', part(2, q));
  t.equal(c.stats.readHolds, 1, `${q} frames of a quiet stream hold`);
  await arrives('the hold ends', () => !c.socket.isPaused());
  // The connection sends a message: the next read is not quiet, and as many frames do not hold.
  c.send(ctrl.regSend(new Pid(atom(node), 1, 0, 1), atom('x'), 1).control, 1);
  c.socket.emit('data', part(2 + q, q));
  t.equal(c.stats.readHolds, 1, `${q} frames after a send: no hold`);
  t.same(got, range(0, 2 + 2 * q), 'nothing lost or reordered');
});
