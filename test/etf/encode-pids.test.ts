// Pids and references are written inline by the encoder's leaf path when
// their node name fits its headroom, and by the general path otherwise: both
// give the same bytes (NEW_PID_EXT, NEWER_REFERENCE_EXT), and bad fields
// raise the same EncodeError.
import t from 'tap';
import { Pid, Reference, atom, decode, encode, termEquals, tuple, type Term } from '../../src/etf/index.js';

/** NEW_PID_EXT / NEWER_REFERENCE_EXT written by hand (erl_ext_dist 12.11, 12.19). */
function pidBytes(node: string, id: number, serial: number, creation: number): Buffer {
  const n = Buffer.from(node);
  const b = Buffer.alloc(1 + 2 + n.length + 12);
  b[0] = 88;
  b[1] = 119;
  b[2] = n.length;
  n.copy(b, 3);
  b.writeUInt32BE(id, 3 + n.length);
  b.writeUInt32BE(serial, 7 + n.length);
  b.writeUInt32BE(creation, 11 + n.length);
  return b;
}
function refBytes(node: string, creation: number, ids: number[]): Buffer {
  const n = Buffer.from(node);
  const b = Buffer.alloc(3 + 2 + n.length + 4 + 4 * ids.length);
  b[0] = 90;
  b.writeUInt16BE(ids.length, 1);
  b[3] = 119;
  b[4] = n.length;
  n.copy(b, 5);
  b.writeUInt32BE(creation, 5 + n.length);
  ids.forEach((id, i) => b.writeUInt32BE(id, 9 + n.length + 4 * i));
  return b;
}

t.test('inline and general paths give the same bytes', async (t) => {
  for (const node of ['a@b', 'web1@127.0.0.1', 'n'.repeat(40) + '@h', 'n'.repeat(60) + '@host.example', 'ü'.repeat(100)]) {
    const pid = new Pid(atom(node), 0x7fff, 0x1fff, 0xffffffff);
    const ref = new Reference(atom(node), 0xfffffffe, [1, 0x3ffff, 0xffffffff]);
    t.same(encode(pid).subarray(1), pidBytes(node, 0x7fff, 0x1fff, 0xffffffff), `pid on ${node.length}-char node`);
    t.same(encode(ref).subarray(1), refBytes(node, 0xfffffffe, [1, 0x3ffff, 0xffffffff]), `reference on ${node.length}-char node`);
    // Inside containers (the inline path) and at the top (the general path) alike.
    const term: Term = tuple(pid, [ref, pid], new Map<Term, Term>([[ref, pid]]));
    t.ok(termEquals(decode(encode(term)), term), 'round trip inside containers');
    t.same(encode(tuple(pid)).subarray(3), pidBytes(node, 0x7fff, 0x1fff, 0xffffffff));
    t.same(encode([ref]).subarray(6, -1), refBytes(node, 0xfffffffe, [1, 0x3ffff, 0xffffffff]));
  }
  t.same(encode(tuple(new Reference(atom('a@b'), 1, []))).subarray(3), refBytes('a@b', 1, []), 'a reference without words');
});

t.test('bad fields raise EncodeError on either path', async (t) => {
  const bad: Term[] = [
    new Pid(atom('a@b'), -1, 0, 0),
    new Pid(atom('a@b'), 1.5, 0, 0),
    new Pid(atom('a@b'), 0, 2 ** 32, 0),
    new Pid('a@b' as unknown as ReturnType<typeof atom>, 0, 0, 0),
    new Reference(atom('a@b'), 1, [1, 2, 3, 4, 5, 6]),
    new Reference(atom('a@b'), -1, [1]),
    new Reference(atom('a@b'), 1, [2 ** 32]),
  ];
  for (const x of bad) {
    t.throws(() => encode(x), { code: 'ERR_ENCODE' });
    t.throws(() => encode(tuple(1, x)), { code: 'ERR_ENCODE' });
  }
});
