/**
 * {@link TermWriter}: the External Term Format encoder, as a builder over one
 * growable buffer (the byte layer is {@link ByteBuilder}, builder.ts).
 * `encode()` (encode.ts) is a thin wrapper around a shared instance; the
 * distribution layer keeps its own to build whole frames.
 *
 * Byte layouts follow erl_ext_dist ("External Term Format"); each case names
 * its section. The encoder is iterative: containers wait on an explicit stack
 * of frames while their children are written, leaves (numbers, atoms,
 * booleans) are written inline, so a term nested a million levels deep
 * encodes like a flat one. Once the stack is deep, the containers on it are
 * tracked so that a cyclic structure raises an error instead of looping.
 */
import { Buffer } from 'node:buffer';
import { ByteBuilder } from './builder.js';
import { EncodeError } from './errors.js';
import { atomEncoding, atomRefHook, atomWordsOf, type AtomRefTable } from './atoms.js';
import { writeSafeMagnitude } from './bignum.js';
import { Atom, Pid, Reference, Tuple, atom, type Term } from './types.js';
import * as W from './write-terms.js';
import { describe, isByteList, writeBigint, writeRare } from './write-terms.js';

// Module-local copies: imported bindings cost a check on every use in the hot loop.
const END_NONE = W.END_NONE;
const END_NIL = W.END_NIL;
const END_TAIL = W.END_TAIL;
const END_FUN = W.END_FUN;

/** Stack depth from which the containers on the stack are tracked (cycles). */
const CYCLE_CHECK_DEPTH = 1000;

const EMPTY: Term[] = [];

/** Free space guaranteed before each leaf; every fixed-size leaf fits in it. */
const HEADROOM = 64;
/** Binaries up to this size are written as leaves (they fit in HEADROOM). */
const SHORT_BINARY = HEADROOM - 5;

const TRUE_BYTES = atomEncoding(atom('true'));
const FALSE_BYTES = atomEncoding(atom('false'));
const UNDEFINED_BYTES = atomEncoding(atom('undefined'));

// Host-order scratch for IEEE doubles (NEW_FLOAT_EXT is big-endian).
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function copySmall(e: Uint8Array, b: Uint8Array, p: number): number {
  const n = e.length;
  for (let i = 0; i < n; i++) b[p + i] = e[i];
  return p + n;
}

/** NEW_FLOAT_EXT: 70, IEEE 754 double, big-endian. `v` must be finite. */
function writeFloat(v: number, b: Uint8Array, p: number): number {
  f64[0] = v;
  b[p] = 70;
  if (LITTLE_ENDIAN) {
    b[p + 1] = f64b[7];
    b[p + 2] = f64b[6];
    b[p + 3] = f64b[5];
    b[p + 4] = f64b[4];
    b[p + 5] = f64b[3];
    b[p + 6] = f64b[2];
    b[p + 7] = f64b[1];
    b[p + 8] = f64b[0];
  } else {
    for (let i = 0; i < 8; i++) b[p + 1 + i] = f64b[i];
  }
  return p + 9;
}

/**
 * Writes `t` at `b[p]` when it is a small leaf (a safe integer, a finite
 * float, a boolean, null/undefined, an atom of up to {@link HEADROOM} bytes,
 * a binary of up to {@link SHORT_BINARY} bytes); returns the new position, or
 * -1 for anything else. The caller guarantees {@link HEADROOM} bytes of room;
 * `dv` is a DataView of `b`'s memory (`b.byteOffset` 0). Kept small so that
 * it inlines.
 */
export function writeLeaf(t: Term, b: Uint8Array, dv: DataView, p: number): number {
  if (typeof t === 'number') {
    if ((t | 0) === t) {
      if (t >= 0 && t <= 255) {
        // SMALL_INTEGER_EXT: 97, Int:8 (-0 is written as 0)
        b[p] = 97;
        b[p + 1] = t;
        return p + 2;
      }
      // INTEGER_EXT: 98, Int:32 big-endian
      b[p] = 98;
      b[p + 1] = t >>> 24;
      b[p + 2] = t >>> 16;
      b[p + 3] = t >>> 8;
      b[p + 4] = t;
      return p + 5;
    }
    return writeNumber(t, b, p);
  }
  if (typeof t === 'object') {
    if (t === null) return copySmall(UNDEFINED_BYTES, b, p);
    const c = t.constructor;
    if (c === Atom) {
      // The cached encoding, a word at a time (may write up to 3 bytes past
      // the atom, inside HEADROOM; they are overwritten or beyond the end).
      let w = (t as Atom).extWords;
      if (w === undefined) w = atomWordsOf(t as Atom);
      const n = w[0];
      if (n > HEADROOM) return -1;
      for (let i = 1, q = p; i < w.length; i++, q += 4) dv.setInt32(q, w[i]);
      return p + n;
    }
    return c === Buffer || c === Uint8Array ? writeShortBinary(t as Uint8Array, b, p) : -1;
  }
  if (typeof t === 'boolean') return copySmall(t ? TRUE_BYTES : FALSE_BYTES, b, p);
  return t === undefined ? copySmall(UNDEFINED_BYTES, b, p) : -1;
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v;

/**
 * An atom at `b[p]` (a node inside a pid or reference, or any atom in a
 * message with the atom cache): a cache reference, or the atom in full when
 * its encoding is at most `room - 3` bytes (words are written); -1 otherwise.
 */
function writeNodeAtom(a: unknown, b: Uint8Array, dv: DataView, p: number, refs: AtomRefTable | undefined, room: number): number {
  if (!(a instanceof Atom)) return -1;
  if (refs !== undefined) {
    const i = refs.ref(a);
    if (i >= 0) {
      b[p] = 82; // ATOM_CACHE_REF
      b[p + 1] = i;
      return p + 2;
    }
  }
  let w = a.extWords;
  if (w === undefined) w = atomWordsOf(a);
  const n = w[0];
  if (n > room - 3) return -1;
  for (let i = 1, q = p; i < w.length; i++, q += 4) dv.setInt32(q, w[i]);
  return p + n;
}

/** NEW_PID_EXT: 88, Node, ID:32, Serial:32, Creation:32 (a pid whose node name fits in the headroom; else -1). */
function writePidLeaf(t: Pid, b: Uint8Array, dv: DataView, p: number, refs: AtomRefTable | undefined): number {
  const { id, serial, creation } = t;
  if (!isU32(id) || !isU32(serial) || !isU32(creation)) return -1; // the slow path says what is wrong
  b[p] = 88;
  const q = writeNodeAtom(t.node, b, dv, p + 1, refs, HEADROOM - 13);
  if (q < 0) return -1;
  dv.setUint32(q, id);
  dv.setUint32(q + 4, serial);
  dv.setUint32(q + 8, creation);
  return q + 12;
}

/** NEWER_REFERENCE_EXT: 90, Len:16, Node, Creation:32, ID:32 * Len (when it fits in the headroom; else -1). */
function writeRefLeaf(t: Reference, b: Uint8Array, dv: DataView, p: number, refs: AtomRefTable | undefined): number {
  const ids = t.ids;
  const creation = t.creation;
  if (!Array.isArray(ids) || ids.length > 5 || !isU32(creation)) return -1;
  const n = ids.length;
  for (let i = 0; i < n; i++) if (!isU32(ids[i])) return -1;
  b[p] = 90;
  b[p + 1] = 0;
  b[p + 2] = n;
  let q = writeNodeAtom(t.node, b, dv, p + 3, refs, HEADROOM - 7 - 4 * n);
  if (q < 0) return -1;
  dv.setUint32(q, creation);
  q += 4;
  for (let i = 0; i < n; i++, q += 4) dv.setUint32(q, ids[i]);
  return q;
}

/** Numbers beyond int32: SMALL_BIG_EXT for safe integers, NEW_FLOAT_EXT. */
function writeNumber(t: number, b: Uint8Array, p: number): number {
  if (Number.isInteger(t)) {
    if (t >= -9007199254740991 && t <= 9007199254740991) {
      // SMALL_BIG_EXT: 110, n:8, Sign:8, digits little-endian
      b[p] = 110;
      b[p + 2] = t < 0 ? 1 : 0;
      const n = writeSafeMagnitude(b, p + 3, t < 0 ? -t : t);
      b[p + 1] = n;
      return p + 3 + n;
    }
    return -1;
  }
  return t - t === 0 ? writeFloat(t, b, p) : -1;
}

/** BINARY_EXT: 109, Len:32, Data, for binaries that fit in HEADROOM; else -1. */
function writeShortBinary(d: Uint8Array, b: Uint8Array, p: number): number {
  const n = d.length;
  if (n > SHORT_BINARY) return -1;
  b[p] = 109;
  b[p + 1] = 0;
  b[p + 2] = 0;
  b[p + 3] = 0;
  b[p + 4] = n;
  return copySmall(d, b, p + 5);
}

/** A map's keys and values, alternating (forEach: no entry arrays, unlike for...of). */
function flatten(m: Map<Term, Term>): Term[] {
  const out: Term[] = new Array(2 * m.size);
  let j = 0;
  m.forEach((value, key) => {
    out[j++] = key;
    out[j++] = value;
  });
  return out;
}

/** What a frame stands for, for cycle tracking. */
function identity(arr: Term[], aux: unknown, end: number): unknown {
  return end === END_NONE && aux !== undefined ? aux : arr;
}

/**
 * A builder of External Term Format bytes over one growable buffer.
 *
 * Writes go to an internal slab; {@link finish} hands out what was written
 * since the last `finish()` as a `Buffer` *view* of that slab (no copy) and
 * starts the next message right after it. Returned buffers never change
 * afterwards, but several may share one underlying `ArrayBuffer` (as Node's
 * own pooled buffers do), so `buf.buffer` is larger than `buf`.
 *
 * A distribution frame `[Len:32][112][131 Ctl][131 Msg]` is built with:
 * ```ts
 * const w = new TermWriter();
 * const len = w.reserveU32();
 * w.writeU8(112).writeVersion().writeTerm(ctl).writeVersion().writeTerm(msg);
 * w.patchU32(len, w.length - 4);
 * socket.write(w.finish());
 * ```
 *
 * If {@link writeTerm} throws, the whole unfinished message is discarded (as
 * by {@link reset}). A writer is not re-entrant: a getter on a plain object
 * must not write to the writer that is encoding that object.
 */
export class TermWriter extends ByteBuilder {
  // The frame stack, as parallel arrays reused across calls.
  private readonly fArr: Term[][] = [];
  private readonly fIdx: number[] = [];
  private readonly fEnd: number[] = [];
  private readonly fAux: unknown[] = [];
  private onStack: Set<unknown> | undefined;
  // Result of writeSlow() for a container.
  private slowChildren: Term[] = EMPTY;
  private slowEnd = END_NONE;
  private slowAux: unknown = undefined;

  /** @param slabSize Size of each internal slab in bytes (default 64 KiB). */
  constructor(slabSize = 65536) {
    super(slabSize);
  }

  /**
   * Writes `term` without a version byte. See {@link encode} for the mapping
   * from JS values to Erlang terms. Throws {@link EncodeError} for a value
   * with no Erlang term (after discarding the unfinished message).
   */
  writeTerm(term: Term): this {
    try {
      this.encodeLoop(term);
      if (this.onStack !== undefined) this.onStack = undefined;
    } catch (e) {
      this.pos = this.start;
      this.fArr.fill(EMPTY);
      this.fAux.fill(undefined);
      this.slowChildren = EMPTY;
      this.slowAux = undefined;
      this.onStack = undefined;
      throw e;
    }
    return this;
  }

  private encodeLoop(root: Term): void {
    // Atom cache references, when the distribution layer is writing a message with this writer.
    const refs = atomRefHook.owner === this ? atomRefHook.table : undefined;
    let b = this.buf;
    let dv = this.dv;
    let p = this.pos;
    let cap = b.length;
    if (p + HEADROOM > cap) {
      this.grow(HEADROOM);
      b = this.buf;
      dv = this.dv;
      p = this.pos;
      cap = b.length;
    }
    const q0 = refs !== undefined && root instanceof Atom ? writeNodeAtom(root, b, dv, p, refs, HEADROOM + 3) : writeLeaf(root, b, dv, p);
    if (q0 >= 0) {
      this.pos = q0;
      return;
    }
    const fArr = this.fArr;
    const fIdx = this.fIdx;
    const fEnd = this.fEnd;
    const fAux = this.fAux;
    let sp = 0;
    let hw = 0; // high-water mark of the stack, for clearing it at the end
    let t: Term = root;

    for (;;) {
      // `t` is a container, or a leaf that writeLeaf left to writeSlow.
      // Tuples and proper lists of other terms are the common containers.
      // (HEADROOM was ensured just before writeLeaf declined `t`.)
      let children: Term[] | undefined;
      let end = END_NONE;
      let aux: unknown = undefined;
      let q: number;
      const c = typeof t === 'object' && t !== null ? t.constructor : undefined;
      if (c === Tuple) {
        // SMALL_TUPLE_EXT: 104, Arity:8 / LARGE_TUPLE_EXT: 105, Arity:32
        children = (t as Tuple).elements;
        const k = children.length;
        if (k <= 255) {
          b[p] = 104;
          b[p + 1] = k;
          p += 2;
        } else {
          b[p] = 105;
          b[p + 1] = k >>> 24;
          b[p + 2] = k >>> 16;
          b[p + 3] = k >>> 8;
          b[p + 4] = k;
          p += 5;
        }
      } else if (c === Array && (t as Term[]).length > 0 && !isByteList(t as Term[])) {
        // LIST_EXT: 108, Length:32, Elements, Tail (NIL_EXT)
        children = t as Term[];
        const k = children.length;
        b[p] = 108;
        b[p + 1] = k >>> 24;
        b[p + 2] = k >>> 16;
        b[p + 3] = k >>> 8;
        b[p + 4] = k;
        p += 5;
        end = END_NIL;
      } else if (c === Map) {
        // MAP_EXT: 116, Arity:32, K1, V1, ..., Kn, Vn
        const m = t as Map<Term, Term>;
        const k = m.size;
        b[p] = 116;
        b[p + 1] = k >>> 24;
        b[p + 2] = k >>> 16;
        b[p + 3] = k >>> 8;
        b[p + 4] = k;
        p += 5;
        children = flatten(m);
        aux = m;
      } else if ((c === Pid || c === Reference) && (q = c === Pid ? writePidLeaf(t as Pid, b, dv, p, refs) : writeRefLeaf(t as Reference, b, dv, p, refs)) >= 0) {
        // A pid or reference (in every control message) written inline.
        p = q;
      } else {
        this.pos = p;
        if (this.writeSlow(t)) {
          children = this.slowChildren;
          end = this.slowEnd;
          aux = this.slowAux;
          this.slowChildren = EMPTY;
          this.slowAux = undefined;
        }
        b = this.buf;
        dv = this.dv;
        p = this.pos;
        cap = b.length;
      }
      if (children !== undefined) {
        // Write the leading leaves now: a container of leaves only (a
        // `{UserId, online}` tuple) then needs no frame at all.
        const n = children.length;
        let i = 0;
        while (i < n) {
          if (p + HEADROOM > cap) {
            this.pos = p;
            this.grow(HEADROOM);
            b = this.buf;
            dv = this.dv;
            p = this.pos;
            cap = b.length;
          }
          // (With the atom cache, atoms are written here as references: writeLeaf stays small enough to inline.)
          const x = children[i];
          const q = refs !== undefined && x instanceof Atom ? writeNodeAtom(x, b, dv, p, refs, HEADROOM + 3) : writeLeaf(x, b, dv, p);
          if (q < 0) break;
          p = q;
          i++;
        }
        if (i === n && end <= END_NIL) {
          if (end === END_NIL) {
            if (p + 1 > cap) {
              this.pos = p;
              this.grow(1);
              b = this.buf;
              dv = this.dv;
              p = this.pos;
              cap = b.length;
            }
            b[p++] = 106; // NIL_EXT
          }
        } else {
          fArr[sp] = children;
          fIdx[sp] = i < n ? i + 1 : n;
          fEnd[sp] = end;
          fAux[sp] = aux;
          sp++;
          if (sp > hw) hw = sp;
          if (sp > CYCLE_CHECK_DEPTH) this.trackCycle(sp);
          if (i < n) {
            t = children[i];
            continue;
          }
        }
      }

      // Continue with the top frame: its leaves inline, until a container.
      for (;;) {
        if (sp === 0) {
          this.pos = p;
          for (let k = 0; k < hw; k++) {
            fArr[k] = EMPTY;
            fAux[k] = undefined;
          }
          return;
        }
        const s = sp - 1;
        const arr = fArr[s];
        const n = arr.length;
        let i = fIdx[s];
        while (i < n) {
          if (p + HEADROOM > cap) {
            this.pos = p;
            this.grow(HEADROOM);
            b = this.buf;
            dv = this.dv;
            p = this.pos;
            cap = b.length;
          }
          const x = arr[i];
          const q = refs !== undefined && x instanceof Atom ? writeNodeAtom(x, b, dv, p, refs, HEADROOM + 3) : writeLeaf(x, b, dv, p);
          if (q < 0) break;
          p = q;
          i++;
        }
        if (i < n) {
          fIdx[s] = i + 1;
          t = arr[i];
          break;
        }
        // All children written: close the container.
        const e = fEnd[s];
        if (e === END_TAIL) {
          // The tail is one more child; the frame stays (the tail may be a cycle).
          t = fAux[s] as Term;
          fEnd[s] = END_NONE;
          fAux[s] = undefined;
          fIdx[s] = n;
          if (p + HEADROOM > cap) {
            this.pos = p;
            this.grow(HEADROOM);
            b = this.buf;
            dv = this.dv;
            p = this.pos;
            cap = b.length;
          }
          const q = refs !== undefined && t instanceof Atom ? writeNodeAtom(t, b, dv, p, refs, HEADROOM + 3) : writeLeaf(t, b, dv, p);
          if (q < 0) break;
          p = q;
          continue;
        }
        if (e === END_NIL) {
          if (p + 1 > cap) {
            this.pos = p;
            this.grow(1);
            b = this.buf;
            dv = this.dv;
            p = this.pos;
            cap = b.length;
          }
          b[p++] = 106; // NIL_EXT
        } else if (e === END_FUN) {
          const mark = fAux[s] as number;
          this.pos = p;
          this.patchU32(mark, p - this.start - mark);
        }
        if (this.onStack !== undefined) this.onStack.delete(identity(arr, fAux[s], e));
        sp = s;
      }
    }
  }

  /** Records the containers on a deep stack; throws on a cycle. */
  private trackCycle(sp: number): void {
    let set = this.onStack;
    if (set === undefined) {
      set = this.onStack = new Set();
      for (let i = 0; i < sp - 1; i++) set.add(identity(this.fArr[i], this.fAux[i], this.fEnd[i]));
      if (set.size !== sp - 1) throw new EncodeError('cannot encode a cyclic structure');
    }
    const id = identity(this.fArr[sp - 1], this.fAux[sp - 1], this.fEnd[sp - 1]);
    if (set.has(id)) throw new EncodeError('cannot encode a cyclic structure');
    set.add(id);
  }

  /** Sets the container result of {@link writeSlow}. */
  private open(children: Term[], end: number, aux: unknown): true {
    this.slowChildren = children;
    this.slowEnd = end;
    this.slowAux = aux;
    return true;
  }

  /**
   * Writes what {@link writeLeaf} does not: a leaf completely (returns false),
   * or a container's header (returns true, children in `slowChildren`).
   */
  private writeSlow(t: Term): boolean {
    switch (typeof t) {
      case 'string': {
        // BINARY_EXT with the UTF-8 text: 109, Len:32, Data
        const n = t.length;
        if (this.pos + 5 + 3 * n > this.buf.length) this.grow(5 + 3 * n);
        const b = this.buf;
        const q = this.pos + 5;
        let len = 0;
        if (n < 64) {
          while (len < n) {
            const c = t.charCodeAt(len);
            if (c > 127) break;
            b[q + len++] = c;
          }
          if (len < n) len = b.write(t, q);
        } else {
          len = b.write(t, q);
        }
        b[q - 5] = 109;
        b.writeUInt32BE(len, q - 4);
        this.pos = q + len;
        return false;
      }
      case 'number':
        if (Number.isInteger(t)) {
          writeBigint(this, BigInt(t));
          return false;
        }
        throw new EncodeError(`cannot encode ${t}: Erlang floats are finite`);
      case 'bigint':
        writeBigint(this, t);
        return false;
      case 'object':
        break;
      default:
        throw new EncodeError(`cannot encode ${describe(t)} as an Erlang term`);
    }
    if (t === null) throw new EncodeError('unreachable: null');
    const c = t.constructor;
    if (c === Tuple || t instanceof Tuple) {
      // SMALL_TUPLE_EXT: 104, Arity:8 / LARGE_TUPLE_EXT: 105, Arity:32
      const el = (t as Tuple).elements;
      if (el.length <= 255) this.writeU8(104).writeU8(el.length);
      else this.writeU8(105).writeU32(el.length);
      return this.open(el, END_NONE, undefined);
    }
    if (c === Array || Array.isArray(t)) {
      const a = t as Term[];
      const n = a.length;
      if (n === 0) {
        this.writeU8(106); // NIL_EXT
        return false;
      }
      if (n <= 65535 && isByteList(a)) {
        // STRING_EXT: 107, Length:16, bytes (as term_to_binary does)
        this.writeU8(107).writeU16(n);
        if (this.pos + n > this.buf.length) this.grow(n);
        const b = this.buf;
        const p = this.pos;
        for (let i = 0; i < n; i++) b[p + i] = a[i] as number;
        this.pos = p + n;
        return false;
      }
      // LIST_EXT: 108, Length:32, Elements, Tail (NIL_EXT)
      this.writeU8(108).writeU32(n);
      return this.open(a, END_NIL, undefined);
    }
    if (t instanceof Uint8Array) {
      // BINARY_EXT: 109, Len:32, Data
      const n = t.length;
      if (this.pos + 5 + n > this.buf.length) this.grow(5 + n);
      const b = this.buf;
      const p = this.pos;
      b[p] = 109;
      b[p + 1] = n >>> 24;
      b[p + 2] = n >>> 16;
      b[p + 3] = n >>> 8;
      b[p + 4] = n;
      b.set(t, p + 5);
      this.pos = p + 5 + n;
      return false;
    }
    if (c === Map || t instanceof Map) {
      // MAP_EXT: 116, Arity:32, K1, V1, ..., Kn, Vn
      const m = t as Map<Term, Term>;
      const flat: Term[] = new Array(2 * m.size);
      let j = 0;
      for (const [k, v] of m) {
        flat[j++] = k;
        flat[j++] = v;
      }
      this.writeU8(116).writeU32(m.size);
      return this.open(flat, END_NONE, m);
    }
    const r = writeRare(this, t);
    if (r === undefined) return false;
    return this.open(r.children, r.end, r.aux);
  }
}
