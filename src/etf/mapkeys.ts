/**
 * Duplicate map key detection for the decoder (erl_ext_dist "MAP_EXT":
 * "Duplicate keys are not allowed within the same map"), with `=:=` semantics.
 *
 * Simple keys (numbers, bigints, booleans, interned atoms) are `=:=` exactly
 * when they are the same JS value, so the `Map` being built answers for them.
 * A compound key gets a signature that covers the whole key: `=:=` keys always
 * share it and distinct keys never do (up to SHA-256 collisions, used to keep
 * long parts short). Keys are compared with {@link termEquals} only when their
 * signatures match, so a map of N compound keys costs time linear in its bytes,
 * whatever the keys look like: N keys `{same, I}` from a peer no longer cost
 * N²/2 comparisons.
 *
 * The signature mirrors `termEquals`: an integer and its bigint agree, a float
 * never equals an integer, `-0.0` differs from `0.0`, a JS string is the binary
 * of its UTF-8 bytes, `null`/`undefined`/booleans are atoms, a plain object is a
 * map with binary keys, a `BitBinary` of whole bytes is a binary, a list is its
 * cons cells however its tails are split, a reference ignores trailing zero id
 * words, and a map's entries are taken in an order of their own signatures.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { termEquals } from './compare.js';
import { Atom, BitBinary, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, Tuple, type Term } from './types.js';

/** True for keys whose JS identity is their Erlang identity. */
export function isSimpleKey(k: Term): boolean {
  return typeof k !== 'object' || (k as object).constructor === Atom;
}

/** @internal How many `termEquals` calls duplicate detection made (tests bound it). */
export const dupKeyStats = { comparisons: 0 };

/** The compound keys of one map under construction. */
export class DupKeys {
  private readonly buckets = new Map<string, Term | Bucket>();

  /** Adds `k`; returns true when a key `=:=` to it was already added. */
  addOrFind(k: Term): boolean {
    const sig = keySignature(k);
    const old = this.buckets.get(sig);
    if (old === undefined) {
      this.buckets.set(sig, k);
      return false;
    }
    // Distinct keys share a signature only through a hash collision: a list holds them.
    const list = old instanceof Bucket ? old.keys : [old];
    for (const x of list) {
      dupKeyStats.comparisons++;
      if (termEquals(x, k)) return true;
    }
    if (old instanceof Bucket) old.keys.push(k);
    else this.buckets.set(sig, new Bucket([old, k]));
    return false;
  }
}

/** Several keys under one signature (a term is never a Bucket). */
class Bucket {
  constructor(readonly keys: Term[]) {}
}

// Parts longer than this are replaced by their SHA-256 (a fixed 33 characters).
const LONG = 64;

function digest(s: string): string {
  return 'H' + createHash('sha256').update(s, 'utf8').digest().toString('latin1');
}

function short(s: string): string {
  return s.length > LONG ? digest(s) : s;
}

/** Binary or bitstring bytes: bit length, then the bytes (unused low bits of the last byte cleared). */
function bitsSig(data: Uint8Array, bitLength: number): string {
  const full = bitLength >>> 3;
  const rest = bitLength & 7;
  let s = 'b' + bitLength + ':';
  if (full + (rest ? 1 : 0) > LONG) {
    const h = createHash('sha256').update(data.subarray(0, full));
    if (rest) h.update(Buffer.of(data[full] & (0xff << (8 - rest))));
    return s + 'H' + h.digest().toString('latin1');
  }
  s += Buffer.from(data.buffer, data.byteOffset, full).toString('latin1');
  if (rest) s += String.fromCharCode(data[full] & (0xff << (8 - rest)));
  return s;
}

function intSig(n: number | bigint): string {
  return 'i' + (typeof n === 'bigint' || !Number.isSafeInteger(n) ? BigInt(n).toString(36) : n.toString(36)) + ';';
}

function floatSig(v: number): string {
  return 'f' + (Object.is(v, -0) ? '-0' : String(v)) + ';';
}

function atomSig(name: string): string {
  return 'a' + name.length + ':' + name;
}

function nodeSig(node: Atom, creation: number): string {
  return atomSig(node.name) + creation + ';';
}

// Work items besides terms: open a part list, close it into `done`, finish a map.
class Open {}
const OPEN = new Open();
class Close {}
const CLOSE = new Close();
/** `[]` as a list's final tail. */
class Nil {}
const NIL = new Nil();
class MapEnd {
  constructor(readonly size: number) {}
}

/**
 * The signature of a key: `=:=` keys share it, distinct keys do not. Iterative
 * (a 100,000-deep key cannot overflow the stack); a map's entries are joined in
 * the order of their own signatures, which makes the result independent of the
 * order the entries were inserted in. Long results are hashed.
 */
export function keySignature(k: Term): string {
  const parts: string[][] = [[]];
  const done: string[] = [];
  const todo: unknown[] = [k];
  while (todo.length > 0) {
    const t = todo.pop();
    const out = parts[parts.length - 1];
    if (t === NIL) {
      out.push('N');
      continue;
    }
    if (t === OPEN) {
      parts.push([]);
      continue;
    }
    if (t === CLOSE) {
      done.push(short((parts.pop() as string[]).join('')));
      continue;
    }
    if (t instanceof MapEnd) {
      const n = t.size;
      const flat = done.splice(done.length - 2 * n, 2 * n);
      const entries: [string, string][] = [];
      for (let i = 0; i < n; i++) entries.push([flat[2 * i], flat[2 * i + 1]]);
      entries.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
      out.push('m' + n + ':');
      for (const [ks, vs] of entries) out.push(ks, vs);
      continue;
    }
    const v = t as Term;
    switch (typeof v) {
      case 'number':
        out.push(Number.isInteger(v) ? intSig(v) : floatSig(v));
        continue;
      case 'bigint':
        out.push(intSig(v));
        continue;
      case 'boolean':
        out.push(atomSig(v ? 'true' : 'false'));
        continue;
      case 'undefined':
        out.push(atomSig('undefined'));
        continue;
      case 'string': {
        const b = Buffer.from(v, 'utf8');
        out.push(bitsSig(b, b.length * 8));
        continue;
      }
      case 'object':
        break;
      default:
        out.push('?');
        continue;
    }
    if (v === null) out.push(atomSig('undefined'));
    else if (v instanceof Atom) out.push(atomSig(v.name));
    else if (v instanceof Uint8Array) out.push(bitsSig(v, v.length * 8));
    else if (v instanceof Tuple) {
      const xs = v.elements;
      out.push('t' + xs.length + ':');
      for (let i = xs.length - 1; i >= 0; i--) todo.push(xs[i]);
    } else if (Array.isArray(v) || v instanceof ImproperList) {
      // Cons cells, however the tails split them: heads, then the final tail.
      const heads: Term[] = [];
      let tail: Term | Nil = v;
      for (;;) {
        if (Array.isArray(tail)) {
          for (const x of tail) heads.push(x);
          tail = NIL;
        } else if (tail instanceof ImproperList) {
          for (const x of tail.elements) heads.push(x);
          tail = tail.tail;
        } else break;
      }
      // An ImproperList without heads is its tail; a list is its length, heads and tail.
      if (heads.length > 0) out.push('l' + heads.length + ':');
      todo.push(tail);
      for (let i = heads.length - 1; i >= 0; i--) todo.push(heads[i]);
    } else if (v instanceof Float) out.push(floatSig(v.value));
    else if (v instanceof BitBinary) out.push(bitsSig(v.data, v.bitLength));
    else if (v instanceof Pid) out.push('p' + v.serial + '.' + v.id + '.' + nodeSig(v.node, v.creation));
    else if (v instanceof Port) out.push('P' + v.id + '.' + nodeSig(v.node, v.creation));
    else if (v instanceof Reference) out.push('r' + refIds(v.ids) + ';' + nodeSig(v.node, v.creation));
    else if (v instanceof ExportFun) out.push('e' + atomSig(v.module.name) + atomSig(v.function.name) + v.arity + ';');
    else if (v instanceof Fun) {
      const fv = v.freeVars;
      out.push('F' + atomSig(v.module.name) + v.oldIndex + '.' + v.oldUniq + '.' + fv.length + ':');
      for (let i = fv.length - 1; i >= 0; i--) todo.push(fv[i]);
    } else if (v instanceof LocalExt) out.push('X' + bitsSig(v.bytes, v.bytes.length * 8));
    else {
      // A Map, or a plain object (a map with binary keys).
      const entries: [Term, Term][] = v instanceof Map ? [...v] : Object.entries(v as object);
      todo.push(new MapEnd(entries.length));
      for (let i = entries.length - 1; i >= 0; i--) todo.push(CLOSE, entries[i][1], OPEN, CLOSE, entries[i][0], OPEN);
    }
  }
  return short(parts[0].join(''));
}

/** The ids without trailing zero words: refs differing only there are `=:=` (see compare.ts). */
function refIds(ids: readonly number[]): string {
  let n = ids.length;
  while (n > 0 && ids[n - 1] === 0) n--;
  return ids.slice(0, n).join('.');
}
