// The decoder names each read's buffer to the term decoder once
// (framing.ts viewSourceDefault, reader.ts viewSource): the binaries of the
// many messages in one read are views of the right bytes, whichever buffer
// was named before, with the knob on or off, and after release.
import t, { type Test } from 'tap';
import { DistDecoder, DistEncoder, DEFAULT_DFLAGS, ctrl } from '../../src/dist/index.js';
import { viewSourceDefault } from '../../src/dist/framing.js';
import { atom, tuple, Pid, Tuple, decode, encode, type Term } from '../../src/etf/index.js';

const from = new Pid(atom('sender@h'), 3, 0, 1);

/** One read's worth of REG_SEND frames, each carrying a binary of its own; laid inside a larger memory at `pad`. */
function chunk(n: number, tag: string, pad: number): { buf: Buffer; frames: [number, number][] } {
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS });
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const msg = tuple(atom('chat_msg'), i, Buffer.from(`${tag}-${i}`));
    parts.push(Buffer.concat(enc.encode(ctrl.regSend(from, atom('counter'), msg).control, msg)));
  }
  const body = Buffer.concat(parts);
  const mem = Buffer.alloc(pad + body.length + 7);
  body.copy(mem, pad);
  const buf = mem.subarray(pad, pad + body.length);
  const frames: [number, number][] = [];
  let off = 0;
  for (const p of parts) {
    frames.push([off + 4, off + p.length]);
    off += p.length;
  }
  return { buf, frames };
}

function readAll(d: DistDecoder, c: { buf: Buffer; frames: [number, number][] }): Term[] {
  const out: Term[] = [];
  for (const [s, e] of c.frames) {
    if (d.decodeAt(c.buf, s, e)) out.push(d.payload);
  }
  return out;
}

function check(t: Test, got: Term[], c: { buf: Buffer }, tag: string, n: number): void {
  t.equal(got.length, n);
  got.forEach((m, i) => {
    const bin = (m as Tuple).elements[2] as Buffer;
    if (bin.toString() !== `${tag}-${i}` || bin.buffer !== c.buf.buffer) t.fail(`message ${i}: ${bin.toString()}`);
    const at = bin.byteOffset - c.buf.byteOffset;
    if (c.buf.subarray(at, at + bin.length).toString() !== `${tag}-${i}`) t.fail(`message ${i} views the wrong bytes`);
  });
  t.pass(`${n} binaries of ${tag} view the read's own bytes`);
}

t.test('binaries of many frames in one read, across reads and with the knob off', async (t) => {
  const d = new DistDecoder();
  const a = chunk(50, 'a', 13);
  const b = chunk(30, 'b', 1);
  check(t, readAll(d, a), a, 'a', 50);
  // Another read (another buffer and offset), then the first again without a release between.
  check(t, readAll(d, b), b, 'b', 30);
  check(t, readAll(d, a), a, 'a', 50);
  d.release();
  check(t, readAll(d, b), b, 'b', 30);
  // A public decode of another buffer in between (a listener may) is not confused by the named one.
  const other = encode(tuple(atom('x'), Buffer.from('other')));
  t.equal(((decode(other) as Tuple).elements[1] as Buffer).toString(), 'other');
  d.release();
  viewSourceDefault.on = false;
  t.teardown(() => {
    viewSourceDefault.on = true;
  });
  check(t, readAll(d, a), a, 'a', 50);
});

t.test('decodeFrame names its frame only for the call', async (t) => {
  const d = new DistDecoder();
  const a = chunk(3, 'f', 5);
  const [s, e] = a.frames[0];
  const m = d.decodeFrame(a.buf.subarray(s, e))!;
  t.equal(((m.payload as Tuple).elements[2] as Buffer).toString(), 'f-0');
  // A throwing decode lets go of it too.
  const bad = Buffer.from(a.buf.subarray(s, e - 1));
  t.throws(() => d.decodeFrame(bad), { code: 'ERR_DIST_PROTOCOL' });
  const b = chunk(2, 'g', 9);
  check(t, readAll(d, b), b, 'g', 2);
});
