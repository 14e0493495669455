/**
 * The decoder's (reader.ts) identifier and legacy terms, past their node
 * atom: pids, ports, references, export funs, the fields of a NEW_FUN_EXT,
 * and FLOAT_EXT text; plus the errors every read raises. Each `*After`
 * function reads the fixed fields that follow the node atom at `q` (the
 * term's tag is at `p`), returns the term and sets {@link idEnd}. Byte
 * layouts: erl_ext_dist "External Term Format".
 */
import { Buffer } from 'node:buffer';
import { DecodeError, type DecodeErrorCode } from './errors.js';
import { Atom, ExportFun, Fun, LocalExt, Pid, Port, Reference, atom, type Term } from './types.js';

/** Throws the DecodeError. */
export function fail(code: DecodeErrorCode, message: string, offset: number, tag?: number): never {
  throw new DecodeError(code, message, offset, tag);
}

export function truncated(offset: number, tag?: number): never {
  fail('ERR_DECODE_TRUNCATED', 'unexpected end of input', offset, tag);
}

export function u32(b: Buffer, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/** Position after the term of the last `*After` read. */
let end_ = 0;

/** The position after the term of the last {@link pidAfter} (and the others). */
export function idEnd(): number {
  return end_;
}

/**
 * The last pid decoded: a pid equal to it is returned as that same object
 * (a distribution peer repeats the sender's pid in every message; pids are
 * immutable values, compared by value everywhere).
 */
let lastPid = new Pid(atom(''), -1, -1, -1);

/** NEW_PID_EXT (88): Node, ID:32, Serial:32, Creation:32; PID_EXT (103): ..., Creation:8. */
export function pidAfter(b: Buffer, p: number, q: number, end: number, tag: number, node: Atom): Pid {
  const w = tag === 88 ? 12 : 9;
  if (q + w > end) truncated(p, tag);
  if (tag === 103 && b[q + 8] > 3) fail('ERR_DECODE_BAD_TERM', 'PID_EXT creation over 2 bits', p, tag);
  end_ = q + w;
  const id = u32(b, q);
  const serial = u32(b, q + 4);
  const creation = tag === 88 ? u32(b, q + 8) : b[q + 8];
  const last = lastPid;
  if (last.node === node && last.id === id && last.serial === serial && last.creation === creation) return last;
  return (lastPid = new Pid(node, id, serial, creation));
}

/** NEW_PORT_EXT (89): Node, ID:32, Creation:32; PORT_EXT (102): ID:32, Creation:8; V4_PORT_EXT (120): ID:64, Creation:32. */
export function portAfter(b: Buffer, p: number, q: number, end: number, tag: number, node: Atom): Port {
  const w = tag === 89 ? 8 : tag === 102 ? 5 : 12;
  if (q + w > end) truncated(p, tag);
  end_ = q + w;
  if (tag === 120) {
    const hi = u32(b, q);
    const lo = u32(b, q + 4);
    const id = hi === 0 ? lo : (BigInt(hi) << 32n) | BigInt(lo);
    return new Port(node, id, u32(b, q + 8));
  }
  if (tag === 102 && b[q + 4] > 3) fail('ERR_DECODE_BAD_TERM', 'PORT_EXT creation over 2 bits', p, tag);
  return new Port(node, u32(b, q), tag === 89 ? u32(b, q + 4) : b[q + 4]);
}

/** NEWER_REFERENCE_EXT (90): Len:16, Node, Creation:32, ID:32 * Len; NEW_REFERENCE_EXT (114): ..., Creation:8, ... (`n` is Len). */
export function refAfter(b: Buffer, p: number, q: number, end: number, tag: number, node: Atom, n: number): Reference {
  const cw = tag === 90 ? 4 : 1;
  if (q + cw + 4 * n > end) truncated(p, tag);
  const creation = tag === 90 ? u32(b, q) : b[q];
  q += cw;
  const ids: number[] = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = u32(b, q + 4 * i);
  // NEW_REFERENCE_EXT: 2-bit creation, 18 significant bits in the first word.
  if (tag === 114 && (creation > 3 || (n > 0 && ids[0] >= 0x40000))) {
    fail('ERR_DECODE_BAD_TERM', 'NEW_REFERENCE_EXT creation or first word out of range', p, tag);
  }
  end_ = q + 4 * n;
  return new Reference(node, creation, ids);
}

/** REFERENCE_EXT (101): Node, ID:32, Creation:8. */
export function oldRefAfter(b: Buffer, p: number, q: number, end: number, node: Atom): Reference {
  if (q + 5 > end) truncated(p, 101);
  // As NEW_REFERENCE_EXT: 18 significant bits in the word, 2-bit creation.
  if (b[q + 4] > 3 || u32(b, q) >= 0x40000) fail('ERR_DECODE_BAD_TERM', 'REFERENCE_EXT creation or word out of range', p, 101);
  end_ = q + 5;
  return new Reference(node, b[q + 4], [u32(b, q)]);
}

/**
 * EXPORT_EXT (113): Module, Function, Arity; the arity at `q` is a
 * SMALL_INTEGER_EXT (OTP also reads an INTEGER_EXT there), 0..255.
 */
export function exportAfter(b: Buffer, p: number, q: number, end: number, m: Atom, f: Atom): ExportFun {
  if (q + 2 > end) truncated(p, 113);
  let arity: number;
  if (b[q] === 97) {
    arity = b[q + 1];
    end_ = q + 2;
  } else if (b[q] === 98) {
    if (q + 5 > end) truncated(p, 113);
    arity = u32(b, q + 1);
    if (arity > 255) fail('ERR_DECODE_BAD_TERM', `export arity ${arity | 0}`, q, 98);
    end_ = q + 5;
  } else {
    return fail('ERR_DECODE_BAD_TERM', 'export arity is not an integer', q, b[q]);
  }
  return new ExportFun(m, f, arity);
}

/** Completes a NEW_FUN_EXT (at `b[start]`) whose fields and free variables are decoded; `local` inside LOCAL_EXT. */
export function makeFun(b: Buffer, start: number, a: Term[], uniq: Buffer, local: boolean): Fun {
  let mod = a[0];
  if (mod === true || mod === false) mod = atom(String(mod));
  const okInt = (x: Term) => (typeof x === 'number' && Number.isInteger(x)) || typeof x === 'bigint' || (local && x instanceof LocalExt);
  if (!(mod instanceof Atom) || !okInt(a[1]) || !okInt(a[2]) || !(a[3] instanceof Pid)) {
    fail('ERR_DECODE_BAD_TERM', 'fun fields have the wrong types', start, 112);
  }
  const oldIndex = a[1] instanceof LocalExt ? 0 : (a[1] as number | bigint);
  const oldUniq = a[2] instanceof LocalExt ? 0 : (a[2] as number | bigint);
  return new Fun(b[start + 5], uniq, u32(b, start + 22), mod, oldIndex, oldUniq, a[3], a.slice(4));
}

const FLOAT_STRING = /^[+-]?[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?$/;

/** FLOAT_EXT (99) text at `b[p + 1]`: OTP accepts `[+-]digits.digits[e[+-]digits]` then NULs. */
export function oldFloat(b: Buffer, p: number): number {
  let e = p + 1;
  while (e < p + 32 && b[e] !== 0) e++;
  const text = b.toString('latin1', p + 1, e);
  const d = e < p + 32 && FLOAT_STRING.test(text) ? Number(text) : NaN;
  if (!(d - d === 0)) fail('ERR_DECODE_BAD_FLOAT', `bad FLOAT_EXT text ${JSON.stringify(text)}`, p, 99);
  return d;
}
