// Atom-cache sending (erl_ext_dist "Distribution Header"): the encoder's
// headers and references against the decoder, over long runs of messages
// that reuse, evict and overflow the cache.
import t from 'tap';
import { DistDecoder, DistEncoder, FrameSplitter, DEFAULT_DFLAGS, DFLAG } from '../../src/dist/index.js';
import { Pid, atom, encode, termEquals, tuple, type Atom, type Term } from '../../src/etf/index.js';

/** Encodes every message with one encoder and decodes the stream with one decoder, as a connection does. */
function pipe(enc: DistEncoder, dec: DistDecoder, msgs: [Term, Term | undefined][]): { got: [Term, Term | undefined][]; bytes: number[] } {
  const split = new FrameSplitter();
  const got: [Term, Term | undefined][] = [];
  const bytes: number[] = [];
  for (const [c, p] of msgs) {
    const bufs = enc.encode(c, p);
    bytes.push(bufs.reduce((n, b) => n + b.length, 0));
    for (const b of bufs) {
      split.push(b, (f) => {
        const m = dec.decodeFrame(f);
        if (m) got.push([m.control, m.payload]);
      });
    }
  }
  return { got, bytes };
}

const from = new Pid(atom('sender@127.0.0.1'), 7, 0, 3);
const regSend = (to: string) => tuple(6, from, atom(''), atom(to));
const chat = tuple(atom('chat_msg'), 1001, Buffer.from('hello'), [atom('alice'), atom('bob')], new Map([[atom('seq'), 7]]));

t.test('repeated messages: atoms in full once, then one byte of header and two of term each', async (t) => {
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS });
  const plain = new DistEncoder({ flags: DEFAULT_DFLAGS, atomCache: false });
  const dec = new DistDecoder();
  const { got, bytes } = pipe(enc, dec, Array.from({ length: 5 }, () => [regSend('counter'), chat] as [Term, Term]));
  t.equal(got.length, 5);
  for (const [c, p] of got) t.ok(termEquals(c, regSend('counter')) && termEquals(p!, chat), 'decoded as sent');
  const full = plain.encode(regSend('counter'), chat)[0].length;
  t.ok(bytes[0] > full, `the first message carries the atoms' text (${bytes[0]} bytes)`);
  t.same(new Set(bytes.slice(1)), new Set([bytes[1]]), 'later messages are all the same size');
  t.ok(bytes[1] < full - 30, `later messages: ${bytes[1]} bytes, ${full} with every atom in full`);
  t.equal(enc.atomCacheEntries, 7, 'seven atoms sent in full once: node, empty, counter, chat_msg, alice, bob, seq');
  t.equal(dec.counters.newCacheEntries, 7);
  t.equal(dec.counters.cacheRefs, 35);
});

t.test('no cache without DIST_HDR_ATOM_CACHE, or when turned off', async (t) => {
  for (const enc of [new DistEncoder({ flags: DEFAULT_DFLAGS & ~DFLAG.DIST_HDR_ATOM_CACHE }), new DistEncoder({ flags: DEFAULT_DFLAGS, atomCache: false })]) {
    const dec = new DistDecoder();
    pipe(enc, dec, [[regSend('x'), chat], [regSend('x'), chat]]);
    t.equal(enc.atomCacheEntries, 0);
    t.equal(dec.counters.cacheRefs, 0);
  }
});

t.test('a long run over more atoms than slots: eviction, collisions, 255-ref messages, long atoms, fragments', async (t) => {
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS, fragmentSize: 4096 });
  const dec = new DistDecoder();
  let seed = 7;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n;
  const pool: Atom[] = Array.from({ length: 3000 }, (_, i) => atom(`cache_atom_${i}`));
  const msgs: [Term, Term | undefined][] = [];
  for (let i = 0; i < 1500; i++) {
    const k = 1 + rnd(8);
    msgs.push([regSend(`to_${rnd(3)}`), Array.from({ length: k }, () => pool[rnd(pool.length)])]);
  }
  // More distinct atoms in one message than a header can reference (the rest go in full).
  msgs.push([regSend('many'), pool.slice(0, 400)]);
  // Long atoms: 255 two-byte characters (LongAtoms lengths), with and without short ones.
  const long = atom('é'.repeat(255));
  msgs.push([regSend('long'), tuple(long, atom('short'))], [regSend('long'), tuple(long, atom('short'))]);
  // A fragmented message whose fragments follow a header with references.
  msgs.push([regSend('big'), tuple(atom('bulk'), Buffer.alloc(50_000, 1), pool.slice(100, 140))]);
  // Control-only signals.
  msgs.push([tuple(1, from, new Pid(atom('other@h'), 1, 0, 1)), undefined]);
  const { got } = pipe(enc, dec, msgs);
  t.equal(got.length, msgs.length, 'every message decoded');
  let bad = 0;
  for (let i = 0; i < msgs.length; i++) {
    if (!termEquals(got[i][0], msgs[i][0]) || (msgs[i][1] === undefined ? got[i][1] !== undefined : !termEquals(got[i][1]!, msgs[i][1]!))) bad++;
  }
  t.equal(bad, 0, 'every message decoded as sent');
  t.ok(enc.atomCacheEntries > 2048, `slots reused: ${enc.atomCacheEntries} entries sent`);
  t.ok(dec.counters.fragmentStarts > 0, 'a fragmented message with references');
});

t.test('an encode that throws leaves the cache as it was', async (t) => {
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS });
  const dec = new DistDecoder();
  t.throws(() => enc.encode(regSend('x'), tuple(atom('fresh_atom_1'), Symbol('no') as unknown as Term)), { code: 'ERR_ENCODE' });
  const { got } = pipe(enc, dec, [[regSend('x'), atom('fresh_atom_1')]]);
  t.equal(got[0][1], atom('fresh_atom_1'), 'the atom of the failed message is sent in full next time');
  t.throws(() => enc.encode(regSend('x'), atom('a'.repeat(256))), { code: 'ERR_ENCODE' }, 'an atom Erlang cannot take');
  t.equal(encode(atom('ok')).length, 5, 'plain encode() is unaffected');
});
