// Frame splitting (one byte at a time), distribution headers with the atom
// cache (including the spec's own example), fragments, the encoder, ticks and
// the coalescing writer.
import t from 'tap';
import { socketPair } from '../../src/testing/index.js';
import type { Socket } from 'node:net';
import {
  AtomCache,
  DistDecoder,
  DistEncoder,
  FrameSplitter,
  TickState,
  SocketWriter,
  readAtomCacheRefs,
  DFLAG,
  DEFAULT_DFLAGS,
  type DistError,
  type DecodedMessage,
} from '../../src/dist/index.js';
import { atom, tuple, Pid, Reference, Tuple, encode, termEquals, type Term } from '../../src/etf/index.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const frame = (body: Buffer) => Buffer.concat([u32(body.length), body]);

function collect(split: FrameSplitter, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    split.push(c, (f) => out.push(Buffer.from(f)));
  }
  return out;
}

t.test('frames survive any split of the stream', async (t) => {
  const bodies = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(70_000, 7), Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(3, 1)];
  const stream = Buffer.concat(bodies.map(frame));
  const oneByte = [...stream].map((b) => Buffer.of(b));
  t.same(collect(new FrameSplitter(), oneByte), bodies, 'one byte at a time');
  t.same(collect(new FrameSplitter(), [stream]), bodies, 'all at once');
  // Random chunkings, deterministic seed.
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n) + 1;
  for (let round = 0; round < 50; round++) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; ) {
      const n = rnd(round % 2 ? 9 : 90_000);
      chunks.push(stream.subarray(i, i + n));
      i += n;
    }
    t.same(collect(new FrameSplitter(), chunks), bodies, `chunking ${round}`);
  }
  const s = new FrameSplitter();
  s.push(stream.subarray(0, 20), () => {});
  t.ok(s.pendingBytes > 0, 'a partial frame is held');
});

t.test('frame size cap', async (t) => {
  const s = new FrameSplitter(1000);
  t.throws(() => s.push(u32(1001), () => t.fail('no frame')), { code: 'ERR_FRAME_TOO_LARGE' });
  t.throws(() => new FrameSplitter().push(Buffer.of(0xff, 0xff, 0xff, 0xff), () => {}), { code: 'ERR_FRAME_TOO_LARGE' }, 'oversized length');
});

/** The erl_ext_dist "Distribution Header for fragmented messages" example, rebuilt. */
function specExample(): { frames: Buffer[]; cache: AtomCache } {
  const cache = new AtomCache();
  cache.entries[4 * 256 + 10] = atom('b@host');
  cache.entries[5] = atom('a@host');
  const seqFrag = (f: number) => Buffer.of(0, 0, 2, 168, 0, 0, 5, 83, 0, 0, 0, 0, 0, 0, 0, f);
  const atoms = Buffer.from([
    5, 4, 137, 9, 10, 5, 236, 3, 114, 101, 103, 9, 4, 99, 97, 108, 108, 238, 13, ...Buffer.from('set_get_state'),
  ]);
  const control = Buffer.of(104, 4, 97, 6, 103, 82, 0, 0, 0, 0, 85, 0, 0, 0, 0, 2, 82, 1, 82, 2);
  const payload = Buffer.concat([
    Buffer.of(104, 3, 82, 3, 103, 82, 0, 0, 0, 0, 245, 0, 0, 0, 2, 2, 104, 2, 82, 4, 109, 0, 0, 0, 128),
    Buffer.alloc(128),
  ]);
  const cut = payload.length - 25;
  return {
    cache,
    frames: [
      Buffer.concat([Buffer.of(131, 69), seqFrag(2), atoms, control, payload.subarray(0, cut)]),
      Buffer.concat([Buffer.of(131, 70), seqFrag(1), payload.subarray(cut)]),
    ],
  };
}

t.test('the spec example: atom cache refs and two fragments', async (t) => {
  const { frames, cache } = specExample();
  const refs = readAtomCacheRefs(frames[0], 18, cache);
  t.same(
    refs.atoms.map((a) => a.name),
    ['b@host', 'a@host', 'reg', 'call', 'set_get_state'],
  );
  t.equal(cache.entries[256 + 236], atom('reg'), 'new entries stored by segment and index');
  t.equal(cache.entries[9], atom('call'));
  const d = new DistDecoder();
  (d.cache.entries as (typeof cache.entries)[number][]).splice(0, 2048, ...cache.entries);
  t.equal(d.decodeFrame(frames[0]), undefined, 'first fragment alone is incomplete');
  t.equal(d.pendingSequences, 1);
  const m = d.decodeFrame(frames[1])!;
  t.equal(d.pendingSequences, 0);
  const c = m.control as Tuple;
  t.equal(c.at(0), 6);
  t.ok(c.at(1) instanceof Pid);
  t.equal((c.at(1) as Pid).id, 85);
  t.equal(c.at(3), atom('reg'));
  const p = m.payload as Tuple;
  t.equal(p.at(0), atom('call'));
  t.equal(((p.at(1) as Pid).node as { name: string }).name, 'b@host');
  const inner = p.at(2) as Tuple;
  t.equal(inner.at(0), atom('set_get_state'));
  t.same(inner.at(1), Buffer.alloc(128));
  // Later headers refer to the cached entry without its text: 1 ref, segment 1, index 236.
  const pid = encode(new Pid(atom('a@host'), 1, 0, 1), { version: false });
  const later = Buffer.concat([Buffer.of(131, 68, 1, 0x01, 236, 104, 4, 97, 6), pid, Buffer.of(119, 0, 82, 0), encode(atom('x'), { version: false })]);
  const m2 = d.decodeFrame(later)!;
  t.equal((m2.control as Tuple).at(3), atom('reg'), 'cached atom resolved');
  t.equal(m2.payload, atom('x'));
});

t.test('atom cache: long atoms flag and errors', async (t) => {
  const cache = new AtomCache();
  const text = 'é'.repeat(200); // 400 bytes: needs 2-byte lengths
  const tb = Buffer.from(text);
  // One ref, new, segment 3; flags byte: low nibble 1011 (new, seg 3), high nibble 0001 (LongAtoms).
  const hdr = Buffer.concat([Buffer.of(1, 0x1b, 77), u16(tb.length), tb]);
  const r = readAtomCacheRefs(hdr, 0, cache);
  t.equal(r.atoms[0].name, text);
  t.equal(r.offset, hdr.length);
  t.equal(cache.entries[3 * 256 + 77]!.name, text);
  t.throws(() => readAtomCacheRefs(Buffer.of(1, 0x00, 99), 0, new AtomCache()), { code: 'ERR_DIST_PROTOCOL' }, 'empty slot');
  t.throws(() => readAtomCacheRefs(Buffer.of(2, 0x00), 0, cache), { code: 'ERR_DIST_PROTOCOL' }, 'truncated');
  t.throws(() => readAtomCacheRefs(Buffer.of(1, 0x08, 1, 2, 0xff, 0xfe), 0, cache), { code: 'ERR_DIST_PROTOCOL' }, 'bad UTF-8');
  t.same(readAtomCacheRefs(Buffer.of(0), 0, cache), { atoms: [], offset: 1 });
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

t.test('decoder: pass-through, headers, fragments, and malformed frames', async (t) => {
  const ctl = tuple(6, new Pid(atom('n@h'), 1, 2, 3), atom(''), atom('reg'));
  const msg: Term = [1, 'two', atom('three'), Buffer.alloc(10, 1)];
  const d = new DistDecoder();
  const pt = Buffer.concat([Buffer.of(112), encode(ctl), encode(msg)]);
  const m = d.decodeFrame(pt)!;
  t.ok(termEquals(m.control, ctl));
  t.ok(termEquals(m.payload!, msg));
  t.equal(d.decodeFrame(Buffer.alloc(0)), undefined, 'a tick');
  const noPayload = d.decodeFrame(Buffer.concat([Buffer.of(131, 68, 0), encode(tuple(1, 2), { version: false })]))!;
  t.equal(noPayload.payload, undefined);
  const bad: [string, Buffer][] = [
    ['unknown type', Buffer.of(7, 1, 2)],
    ['unknown header', Buffer.of(131, 99)],
    ['short 69', Buffer.of(131, 69, 0)],
    ['short 70', Buffer.of(131, 70, 0)],
    ['fragment id 0', Buffer.concat([Buffer.of(131, 69), Buffer.alloc(16), Buffer.of(0)])],
    ['unknown continuation', Buffer.concat([Buffer.of(131, 70), Buffer.alloc(15), Buffer.of(1)])],
    ['trailing garbage', Buffer.concat([pt, Buffer.of(1)])],
    ['truncated term', pt.subarray(0, pt.length - 3)],
  ];
  for (const [what, f] of bad) t.throws(() => new DistDecoder().decodeFrame(f), { code: 'ERR_DIST_PROTOCOL' }, what);
  // Out-of-order and duplicate fragments.
  const start = (seq: number, frag: number) => Buffer.concat([Buffer.of(131, 69), u64(seq), u64(frag), Buffer.of(0), encode(ctl, { version: false })]);
  const cont = (seq: number, frag: number, b: Buffer) => Buffer.concat([Buffer.of(131, 70), u64(seq), u64(frag), b]);
  const d2 = new DistDecoder();
  d2.decodeFrame(start(1, 3));
  t.throws(() => d2.decodeFrame(start(1, 3)), { code: 'ERR_DIST_PROTOCOL' }, 'sequence started twice');
  const d3 = new DistDecoder();
  d3.decodeFrame(start(1, 3));
  t.throws(() => d3.decodeFrame(cont(1, 1, Buffer.alloc(1))), { code: 'ERR_DIST_PROTOCOL' }, 'skipped a fragment');
  const d4 = new DistDecoder({ maxSequences: 2 });
  d4.decodeFrame(start(1, 3));
  d4.decodeFrame(start(2, 3));
  t.throws(() => d4.decodeFrame(start(3, 3)), { code: 'ERR_DIST_PROTOCOL' }, 'too many sequences');
  const d5 = new DistDecoder({ maxMessageSize: 100 });
  d5.decodeFrame(start(1, 2));
  t.throws(() => d5.decodeFrame(cont(1, 1, Buffer.alloc(200))), { code: 'ERR_FRAME_TOO_LARGE' });
});

t.test('decoder: a fragmented message grows as it arrives, bounded per connection', async (t) => {
  const KB = 1024;
  const first = (seq: number, frags: number, body: Buffer) => Buffer.concat([Buffer.of(131, 69), u64(seq), u64(frags), Buffer.of(0), body]);
  const cont = (seq: number, frag: number, b: Buffer) => Buffer.concat([Buffer.of(131, 70), u64(seq), u64(frag), b]);
  // The control tuple, then a binary payload cut into 64 KiB fragments.
  const ctl = encode(tuple(2, atom(''), new Pid(atom('n@h'), 1, 2, 3)), { version: false });
  const payload = encode(Buffer.alloc(4 * 1024 * KB, 7), { version: false });
  const body = Buffer.concat([ctl, payload]);
  const pieces: Buffer[] = [];
  for (let o = 0; o < body.length; o += 64 * KB) pieces.push(body.subarray(o, o + 64 * KB));

  // A first fragment that claims 8192 fragments reserves room for a few, not 512 MiB.
  const liar = new DistDecoder();
  liar.decodeFrame(first(1, 8192, pieces[0]));
  t.ok(liar.reassemblyBytes <= 16 * 64 * KB, `first of 8192 fragments reserved ${liar.reassemblyBytes} bytes`);

  // An honest message: the buffer grows to the message's size, with little held beyond.
  const d = new DistDecoder();
  let most = 0;
  let worst = 0;
  let m: DecodedMessage | undefined;
  pieces.forEach((p, i) => {
    m = d.decodeFrame(i === 0 ? first(1, pieces.length, p) : cont(1, pieces.length - i, p));
    most = Math.max(most, d.reassemblyBytes);
    if (m === undefined) worst = Math.max(worst, d.reassemblyBytes / (64 * KB * (i + 1)));
  });
  t.ok(worst <= 16, `at most 16x what arrived was reserved at any time (${worst.toFixed(1)}x)`);
  t.ok(m !== undefined && Buffer.isBuffer(m.payload) && (m.payload as Buffer).length === 4 * 1024 * KB, 'the message arrived whole');
  t.ok(most <= 64 * KB * pieces.length, `held at most the promised size: ${most} bytes for ${body.length}`);
  t.equal(d.reassemblyBytes, 0, 'nothing held once complete');

  // A peer whose later fragments are larger than the first (the promise is
  // exceeded) still reassembles, by doubling.
  const uneven = new DistDecoder();
  uneven.decodeFrame(first(2, 3, body.subarray(0, 10)));
  uneven.decodeFrame(cont(2, 2, body.subarray(10, 1000)));
  const u = uneven.decodeFrame(cont(2, 1, body.subarray(1000)));
  t.equal((u!.payload as Buffer).length, 4 * 1024 * KB, 'uneven fragments');

  // Per connection: many sequences in flight together stay under the bound.
  const bounded = new DistDecoder({ maxReassemblyBytes: 1024 * KB });
  for (let seq = 1; seq <= 8; seq++) bounded.decodeFrame(first(seq, 8192, pieces[0]));
  // Room beyond the data only within the bound: at most the bound plus what arrived.
  t.ok(bounded.reassemblyBytes <= 1024 * KB + 8 * 64 * KB, `8 claimed 512 MiB messages reserve ${bounded.reassemblyBytes} bytes`);
  t.throws(
    () => {
      for (let i = 0; i < 4; i++) for (let seq = 1; seq <= 8; seq++) bounded.decodeFrame(cont(seq, 8191 - i, pieces[1]));
    },
    { code: 'ERR_FRAME_TOO_LARGE' },
    'more data in flight than the bound fails the connection',
  );
});

t.test('decoder: a repeated control is reused only under the same atom cache refs', async (t) => {
  const raw = (x: Term) => encode(x, { version: false });
  const pid = new Pid(atom('n@h'), 1, 2, 3);
  // REG_SEND {6, Pid, '', ToName}, ToName as ATOM_CACHE_REF 0.
  const control = Buffer.concat([Buffer.of(104, 4), raw(6), raw(pid), raw(atom('')), Buffer.of(82, 0)]);
  const header = (name: string | undefined) =>
    name === undefined
      ? Buffer.of(131, 68, 1, 0x00, 0) // one ref, slot 0, no new entry
      : Buffer.concat([Buffer.of(131, 68, 1, 0x08, 0, name.length), Buffer.from(name)]);
  const frame = (name: string | undefined, payload: Term) => Buffer.concat([header(name), control, raw(payload)]);
  const d = new DistDecoder();
  const names: string[] = [];
  const payloads: Term[] = [];
  for (const [name, payload] of [['reg', 1], [undefined, 2], [undefined, 3], ['other', 4], [undefined, 5]] as const) {
    const m = d.decodeFrame(frame(name, payload))!;
    const c = m.control as Tuple;
    names.push((c.elements[3] as ReturnType<typeof atom>).name);
    payloads.push(m.payload!);
    t.ok(termEquals(c.elements[1], pid), 'the pid');
  }
  t.same(names, ['reg', 'reg', 'reg', 'other', 'other'], 'the name follows the cache');
  t.same(payloads, [1, 2, 3, 4, 5], 'each payload its own');
});

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

t.test('encoder: pass-through, header, and fragments round-trip through the decoder', async (t) => {
  const ctl = tuple(2, atom(''), new Pid(atom('n@h'), 1, 2, 3));
  const small: Term = [atom("hello"), 1.5, -(7n ** 30n)];
  const big = Buffer.alloc(300_000, 9);
  const cases: [string, bigint, number | undefined, Term, number][] = [
    ['pass-through', DEFAULT_DFLAGS & ~DFLAG.DIST_HDR_ATOM_CACHE, undefined, small, 1],
    ['header', DEFAULT_DFLAGS, undefined, small, 1],
    ['header, no fragments flag', DEFAULT_DFLAGS & ~DFLAG.FRAGMENTS, undefined, big, 1],
    ['fragmented', DEFAULT_DFLAGS, undefined, big, Math.ceil(300_020 / 65536)],
    ['fragmented, tiny fragments', DEFAULT_DFLAGS, 100, big, 0],
  ];
  for (const [what, flags, fragmentSize, payload, expectFrames] of cases) {
    const enc = new DistEncoder({ flags, fragmentSize });
    const bufs = enc.encode(ctl, payload);
    const frames = collect(new FrameSplitter(), [Buffer.concat(bufs)]);
    if (expectFrames > 0) t.equal(frames.length, expectFrames, `${what}: ${frames.length} frames`);
    else t.ok(frames.length > 1000, `${what}: ${frames.length} frames`);
    if (frames.length > 1) {
      t.same([...frames[0].subarray(0, 2)], [131, 69], `${what}: starts with 69`);
      t.equal(frames[0].readBigUInt64BE(10), BigInt(frames.length), `${what}: first fragment id is the count`);
      t.same([...frames[1].subarray(0, 2)], [131, 70]);
      t.equal(frames[frames.length - 1].readBigUInt64BE(10), 1n, `${what}: last fragment id is 1`);
    }
    const dec = new DistDecoder();
    let m;
    for (const f of frames) m = dec.decodeFrame(f) ?? m;
    t.ok(termEquals(m!.control, ctl), `${what}: control`);
    t.ok(termEquals(m!.payload!, payload), `${what}: payload`);
  }
  // Control-only messages and a re-entrant encode.
  const link = tuple(1, new Pid(atom('a@b'), 1, 1, 1), new Pid(atom('a@b'), 2, 1, 1));
  t.same([...new DistEncoder({ flags: DEFAULT_DFLAGS, atomCache: false }).encode(link)[0].subarray(4, 7)], [131, 68, 0], 'no atom cache: no refs');
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS });
  enc.encode(link); // the first message carries the node name in full
  const [f] = enc.encode(link);
  t.same([...f.subarray(4, 9)], [131, 68, 1, 0x00 | (atom('a@b').cix >> 8), atom('a@b').cix & 0xff], 'the node name once, as an old cache ref');
  const tricky = {
    get x(): Term {
      return enc.encode(tuple(9))[0];
    },
  };
  const frames = collect(new FrameSplitter(), enc.encode(ctl, tricky as unknown as Term));
  t.equal(frames.length, 1, 'a getter that encodes on the same encoder');
  t.same(DistEncoder.TICK, Buffer.alloc(4));
});

t.test('tick state machine: OTP window', async (t) => {
  // Silent peer from the start: dropped on the 4th check.
  let s = new TickState(4);
  t.same([s.check(false), s.check(false), s.check(false), s.check(false)], ['tick', 'tick', 'tick', 'timeout']);
  // Traffic resets the window: last read just before check k -> timeout at k + 4.
  s = new TickState(4);
  s.markRead();
  s.markWrote();
  t.equal(s.check(false), 'ok', 'wrote: no tick needed');
  const seq = [];
  for (let i = 0; i < 4; i++) seq.push(s.check(true));
  t.same(seq, ['ok', 'ok', 'ok', 'timeout'], 'pending writes need no tick; silence times out');
  // A peer that ticks every check is never dropped.
  s = new TickState(4);
  for (let i = 0; i < 40; i++) {
    s.markRead();
    t.not(s.check(false), 'timeout');
  }
  // Hidden peers are ticked whenever nothing was read, even if we wrote.
  s = new TickState(4, true);
  s.markWrote();
  t.equal(s.check(false), 'tick');
  t.throws(() => new TickState(3), RangeError);
});

/** Counts `socket.write` calls: `writes()` says how many so far. */
function countWrites(a: Socket): () => number {
  let n = 0;
  const orig = a.write.bind(a);
  a.write = ((...args: Parameters<Socket['write']>) => {
    n++;
    return orig(...args);
  }) as Socket['write'];
  return () => n;
}

t.test('writer coalesces one event-loop turn into one write', async (t) => {
  const [a, b] = await socketPair(t);
  const writes = countWrites(a);
  let flushes = 0;
  const w = new SocketWriter(a, () => flushes++);
  const sent: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const f = frame(Buffer.from(`message ${i}`));
    sent.push(f);
    w.write([f]);
  }
  w.write([Buffer.alloc(100_000, 3)]); // large: written without copying
  sent.push(Buffer.alloc(100_000, 3));
  t.ok(w.queuedBytes > 0);
  const total = sent.reduce((n, s) => n + s.length, 0);
  const got: Buffer[] = [];
  let n = 0;
  const done = new Promise<void>((resolve) =>
    b.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= total) resolve();
    }),
  );
  await done;
  t.equal(flushes, 1, 'one flush');
  t.ok(writes() <= 3, `${writes()} socket writes for 1001 frames`);
  t.same(Buffer.concat(got), Buffer.concat(sent), 'bytes in order');
  w.kill();
  w.write([Buffer.of(1)]);
  t.equal(w.queuedBytes, 0, 'a dead writer drops writes');
});

t.test('DistError is typed', async (t) => {
  let e: DistError | undefined;
  try {
    new FrameSplitter(1).push(u32(2), () => {});
  } catch (x) {
    e = x as DistError;
  }
  t.equal(e?.name, 'DistError');
});

t.test('decoder: a spoken-for reassembly bound still grows buffers by doubling', async (t) => {
  const KB = 1024;
  const MB = 1024 * KB;
  const first = (seq: number, frags: number, body: Buffer) => Buffer.concat([Buffer.of(131, 69), u64(seq), u64(frags), Buffer.of(0), body]);
  const cont = (seq: number, frag: number, b: Buffer) => Buffer.concat([Buffer.of(131, 70), u64(seq), u64(frag), b]);
  const ctl = encode(tuple(2, atom(''), new Pid(atom('n@h'), 1, 2, 3)), { version: false });
  const message = (n: number, cut: number): Buffer[] => {
    const body = Buffer.concat([ctl, encode(Buffer.alloc(n, 7), { version: false })]);
    const pieces: Buffer[] = [];
    for (let o = 0; o < body.length; o += cut) pieces.push(body.subarray(o, o + cut));
    return pieces;
  };
  // The reported scenario scaled down 64x: bound 8 MiB; two 4 MiB messages
  // reserve their whole promise once a quarter arrived; then a 2 MiB message
  // in 1 KiB fragments.
  const d = new DistDecoder({ maxMessageSize: 8 * MB, maxReassemblyBytes: 8 * MB });
  const big = [message(4 * MB - 200, 64 * KB), message(4 * MB - 200, 64 * KB)];
  big.forEach((p, k) => {
    d.decodeFrame(first(k + 1, p.length, p[0]));
    for (let i = 1; i <= p.length / 4; i++) d.decodeFrame(cont(k + 1, p.length - i, p[i]));
  });
  t.ok(d.reassemblyBytes >= 8 * MB - 64 * KB, `the bound is spoken for (${d.reassemblyBytes} bytes reserved)`);
  const small = message(2 * MB, KB);
  const before = d.counters.reassemblyGrowths;
  let m: DecodedMessage | undefined;
  small.forEach((p, i) => {
    m = d.decodeFrame(i === 0 ? first(3, small.length, p) : cont(3, small.length - i, p));
  });
  const growths = d.counters.reassemblyGrowths - before;
  t.ok(m !== undefined && (m.payload as Buffer).length === 2 * MB, 'the third message arrived whole');
  t.ok(growths <= 2 * Math.log2(small.length) + 4, `${growths} reallocations for ${small.length} fragments (was one per fragment)`);
  // The two big ones finish too: the limit is on bytes held, not reserved.
  big.forEach((p, k) => {
    for (let i = p.length / 4 + 1; i < p.length; i++) m = d.decodeFrame(cont(k + 1, p.length - i, p[i]));
    t.equal((m!.payload as Buffer).length, 4 * MB - 200, `big message ${k + 1} arrived whole`);
  });
  t.equal(d.reassemblyBytes, 0);

  // A liar claiming 8192 fragments that sends 1/16 of the bound takes all
  // the room ahead of data; later messages still grow geometrically.
  const liar = new DistDecoder({ maxMessageSize: 8 * MB, maxReassemblyBytes: 8 * MB });
  const lie = message(MB, 64 * KB);
  liar.decodeFrame(first(1, 8192, lie[0]));
  for (let i = 1; i < 8; i++) liar.decodeFrame(cont(1, 8192 - i, lie[i]));
  const b2 = liar.counters.reassemblyGrowths;
  const honest = message(4 * MB, 2 * KB);
  honest.forEach((p, i) => {
    m = liar.decodeFrame(i === 0 ? first(2, honest.length, p) : cont(2, honest.length - i, p));
  });
  t.equal((m!.payload as Buffer).length, 4 * MB, 'a message whose bytes fit the bound goes through');
  t.ok(liar.counters.reassemblyGrowths - b2 <= 2 * Math.log2(honest.length) + 4, `${liar.counters.reassemblyGrowths - b2} reallocations`);
  t.ok(liar.reassemblyBytes <= 8 * MB, 'the liar holds only its own room');

  // Raising maxMessageSize alone raises the reassembly bound with it.
  t.equal(Reflect.get(new DistDecoder({ maxMessageSize: 1024 * MB }), 'maxReassembly'), 1024 * MB);
  t.equal(Reflect.get(new DistDecoder({ maxMessageSize: MB }), 'maxReassembly'), 512 * MB, 'lowering it keeps the default bound');
});

t.test('decoder: decodeFrame never hands out the reused control term', async (t) => {
  const ctl = tuple(6, new Pid(atom('a@h'), 1, 0, 0), atom(''), atom('logger'));
  const f = Buffer.concat([Buffer.of(112), encode(ctl), encode(atom('hi'))]);
  const d = new DistDecoder();
  const a = d.decodeFrame(f)!;
  (a.control as Tuple).elements[3] = atom('mutated');
  const b = d.decodeFrame(f)!;
  t.not(a.control, b.control, 'a fresh term per message');
  t.ok(termEquals(b.control, ctl), 'a consumer mutating one event does not change the next');
  // The internal path still reuses it.
  t.ok(d.decodeAt(f, 0, f.length));
  const c1 = d.control;
  t.ok(d.decodeAt(f, 0, f.length));
  t.equal(d.control, c1, 'internal path reuses the term');
});

t.test('decoder: a gen_server call\'s three shapes (MONITOR_P, REG_SEND, DEMONITOR_P) alternate without evicting each other', async (t) => {
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS });
  const from = new Pid(atom('caller@h'), 7, 0, 1);
  const ref = (n: number) => new Reference(atom('caller@h'), 1, [n, 0, 0]);
  const regSend = tuple(6, from, atom(''), atom('bb_server'));
  const msg = tuple(atom('$gen_call'), tuple(from, ref(0)), atom('hi'));
  const d = new DistDecoder();
  const split = new FrameSplitter();
  const decode = (bufs: Buffer[]): { control: Term; payload: Term | undefined; same: boolean }[] => {
    const out: { control: Term; payload: Term | undefined; same: boolean }[] = [];
    let last: Term;
    for (const f of collect(split, [Buffer.concat(bufs)])) {
      t.ok(d.decodeAt(f, 0, f.length));
      out.push({ control: d.control, payload: d.payload, same: d.control === last });
      last = d.control;
    }
    return out;
  };
  const regSends: Term[] = [];
  for (let i = 1; i <= 5; i++) {
    const [mon, call, demon] = decode([
      ...enc.encode(tuple(19, from, atom('bb_server'), ref(i))),
      ...enc.encode(regSend, msg),
      ...enc.encode(tuple(20, from, atom('bb_server'), ref(i))),
    ]);
    t.ok(termEquals(mon.control, tuple(19, from, atom('bb_server'), ref(i))), `MONITOR_P ${i}`);
    t.ok(termEquals(call.control, regSend), `REG_SEND ${i}`);
    t.ok(termEquals(call.payload!, msg), `payload ${i}`);
    t.ok(termEquals(demon.control, tuple(20, from, atom('bb_server'), ref(i))), `DEMONITOR_P ${i}`);
    regSends.push(call.control);
  }
  t.equal(regSends[4], regSends[1], 'the REG_SEND control is remembered across the monitors around it');
  // A frame shorter than a remembered header: no refs, control 6, no payload.
  const short = Buffer.of(131, 68, 0, 97, 6);
  t.ok(d.decodeAt(short, 0, short.length));
  t.equal(d.control, 6, 'a frame shorter than the remembered headers');
  t.equal(d.payload, undefined);
  t.ok(d.counters.cacheRefs > 0, 'the messages used the atom cache');
  // More shapes than the header memo holds still decode.
  for (let i = 0; i < 12; i++) {
    const ctl = tuple(6, from, atom(''), atom(`name${i % 6}`));
    const [m] = decode(enc.encode(ctl, atom(`p${i}`)));
    t.ok(termEquals(m.control, ctl) && termEquals(m.payload!, atom(`p${i}`)), `shape ${i % 6}`);
  }
});
