/**
 * Duplicate map key detection for the decoder (erl_ext_dist "MAP_EXT":
 * "Duplicate keys are not allowed within the same map"), with `=:=` semantics.
 *
 * Simple keys (numbers, bigints, booleans, interned atoms) are `=:=` exactly
 * when they are the same JS value, so the `Map` being built answers for them.
 * Compound keys are bucketed by a cheap signature that equal terms always
 * share, and compared with {@link termEquals} only inside a bucket, so a map
 * with many binary or tuple keys costs about one string hash per key.
 */
import { Buffer } from 'node:buffer';
import { termEquals } from './compare.js';
import { Atom, BitBinary, Float, Pid, Port, Reference, Tuple, type Term } from './types.js';

/** True for keys whose JS identity is their Erlang identity. */
export function isSimpleKey(k: Term): boolean {
  return typeof k !== 'object' || (k as object).constructor === Atom;
}

/** The compound keys of one map under construction. */
export class DupKeys {
  private readonly buckets = new Map<string, Term[]>();

  /** Adds `k`; returns true when a key `=:=` to it was already added. */
  addOrFind(k: Term): boolean {
    const sig = signature(k, 0);
    const list = this.buckets.get(sig);
    if (list === undefined) {
      this.buckets.set(sig, [k]);
      return false;
    }
    for (let i = 0; i < list.length; i++) if (termEquals(list[i], k)) return true;
    list.push(k);
    return false;
  }
}

/** A string that `=:=` terms share (distinct terms may share it too). */
function signature(k: Term, depth: number): string {
  switch (typeof k) {
    case 'number':
      return 'n' + k;
    case 'bigint':
      return 'i' + k.toString(36);
    case 'boolean':
      return k ? 'T' : 'F';
    case 'object': {
      if (k === null) return '?';
      if (k instanceof Atom) return 'a' + k.name;
      if (Buffer.isBuffer(k)) {
        const n = k.length;
        return n <= 64
          ? 'b' + k.toString('latin1')
          : 'b' + n + ':' + k.toString('latin1', 0, 24) + k.toString('latin1', n - 24, n);
      }
      if (k instanceof Float) return 'f' + Math.abs(k.value);
      if (k instanceof Tuple) {
        const n = k.elements.length;
        return 't' + n + (n > 0 && depth < 2 ? ':' + signature(k.elements[0], depth + 1) : '');
      }
      if (Array.isArray(k)) {
        const n = k.length;
        return 'l' + n + (n > 0 && depth < 2 ? ':' + signature(k[0], depth + 1) : '');
      }
      if (k instanceof Map) return 'm' + k.size;
      if (k instanceof BitBinary) return 'B' + k.data.length + ':' + k.bits;
      if (k instanceof Pid) return 'p' + k.id + '.' + k.serial;
      if (k instanceof Port) return 'P' + k.id;
      if (k instanceof Reference) return 'r' + refIds(k.ids);
      return 'o' + (k.constructor?.name ?? '');
    }
    default:
      return '?';
  }
}

/** The ids without trailing zero words: refs differing only there are `=:=` (see compare.ts). */
function refIds(ids: readonly number[]): string {
  let n = ids.length;
  while (n > 0 && ids[n - 1] === 0) n--;
  return n === ids.length ? ids.join('.') : ids.slice(0, n).join('.');
}
