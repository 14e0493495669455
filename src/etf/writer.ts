/**
 * {@link TermWriter}: the External Term Format encoder, as a builder over one
 * growable buffer. `encode()` (encode.ts) is a thin wrapper around a shared
 * instance; the distribution layer keeps its own to build whole frames.
 *
 * Byte layouts follow erl_ext_dist ("External Term Format"); each case names
 * its section. The encoder is iterative: containers wait on an explicit stack
 * of frames while their children are written, leaves (numbers, atoms,
 * booleans) are written inline, so a term nested a million levels deep
 * encodes like a flat one. Once the stack is deep, the containers on it are
 * tracked so that a cyclic structure raises an error instead of looping.
 */
import { Buffer } from 'node:buffer';
import { atomEncoding, encodedAtoms } from './atoms.js';
import { bigintMagnitude, writeSafeMagnitude } from './bignum.js';
import { bufferView } from './buffers.js';
import { EncodeError } from './errors.js';
import { MAX_BIG_BYTES } from './tags.js';
import { Atom, BitBinary, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, Tuple, atom, type Term } from './types.js';

/** Frame end actions: what to write once a container's children are written. */
const END_NONE = 0; // tuple, map
const END_NIL = 1; // proper list: NIL_EXT
const END_TAIL = 2; // improper list: then the tail (aux), as one more child
const END_FUN = 3; // NEW_FUN_EXT: back-patch Size (aux = mark of the Size field)

/** Stack depth from which the containers on the stack are tracked (cycles). */
const CYCLE_CHECK_DEPTH = 1000;

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

const EMPTY: Term[] = [];

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
 * -1 for anything else. The caller guarantees {@link HEADROOM} bytes of room.
 * Kept small so that it inlines; the less common leaves are in writeLeaf2.
 */
function writeLeaf(t: Term, b: Uint8Array, p: number): number {
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
  if (typeof t === 'object' && t !== null && t.constructor === Atom) {
    let e = encodedAtoms.get(t as Atom);
    if (e === undefined) e = atomEncoding(t as Atom);
    const n = e.length;
    if (n > HEADROOM) return -1;
    for (let i = 0; i < n; i++) b[p + i] = e[i];
    return p + n;
  }
  return writeLeaf2(t, b, p);
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

/** The rest of writeLeaf: booleans, null/undefined, short binaries. */
function writeLeaf2(t: Term, b: Uint8Array, p: number): number {
  if (typeof t === 'boolean') return copySmall(t ? TRUE_BYTES : FALSE_BYTES, b, p);
  if (t === undefined || t === null) return copySmall(UNDEFINED_BYTES, b, p);
  if (typeof t === 'object') {
    const c = t.constructor;
    if (c === Buffer || c === Uint8Array) {
      // BINARY_EXT: 109, Len:32, Data (short ones only; the rest need room)
      const d = t as Uint8Array;
      const n = d.length;
      if (n > SHORT_BINARY) return -1;
      b[p] = 109;
      b[p + 1] = 0;
      b[p + 2] = 0;
      b[p + 3] = 0;
      b[p + 4] = n;
      return copySmall(d, b, p + 5);
    }
  }
  return -1;
}

function describe(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'number') return String(v);
  const name = (v as object | null)?.constructor?.name;
  return name ? `an instance of ${name}` : 'an object with a custom prototype';
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
export class TermWriter {
  private buf: Buffer;
  private start = 0;
  private pos = 0;
  private readonly slabSize: number;
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
    this.slabSize = Math.max(1024, Math.floor(slabSize) || 0);
    this.buf = Buffer.allocUnsafeSlow(this.slabSize);
  }

  /** Bytes written since the last {@link finish} or {@link reset}. */
  get length(): number {
    return this.pos - this.start;
  }

  /** Writes the version byte 131 (erl_ext_dist "Introduction"). */
  writeVersion(): this {
    return this.writeU8(131);
  }

  /** Writes one unsigned byte. */
  writeU8(v: number): this {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** Writes an unsigned 16-bit big-endian integer. */
  writeU16(v: number): this {
    if (this.pos + 2 > this.buf.length) this.grow(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
    return this;
  }

  /** Writes an unsigned 32-bit big-endian integer. */
  writeU32(v: number): this {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
    return this;
  }

  /** Writes raw bytes (for example a pre-encoded term or a header). */
  writeBytes(bytes: Uint8Array): this {
    const n = bytes.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    if (n <= 16) copySmall(bytes, this.buf, this.pos);
    else this.buf.set(bytes, this.pos);
    this.pos += n;
    return this;
  }

  /**
   * Reserves 4 bytes for a big-endian length written later with
   * {@link patchU32}; returns their position as an offset from the start of
   * the current message (it stays valid when the buffer grows).
   */
  reserveU32(): number {
    const mark = this.pos - this.start;
    this.writeU32(0);
    return mark;
  }

  /** Fills 4 bytes reserved by {@link reserveU32} with `value`. */
  patchU32(mark: number, value: number): this {
    if (!(mark >= 0 && mark + 4 <= this.pos - this.start)) {
      throw new RangeError(`patchU32: mark ${mark} is outside the current message`);
    }
    const b = this.buf;
    const p = this.start + mark;
    b[p] = value >>> 24;
    b[p + 1] = value >>> 16;
    b[p + 2] = value >>> 8;
    b[p + 3] = value;
    return this;
  }

  /**
   * Returns the bytes written since the last `finish()`/`reset()` and starts a
   * new message. The result is a view of the internal slab (see the class
   * comment); it is copied only when it would waste most of a large buffer.
   */
  finish(): Buffer {
    const b = this.buf;
    let out = bufferView(b.buffer, b.byteOffset + this.start, this.pos - this.start);
    const next = (this.pos + 7) & ~7;
    const rest = b.length - next;
    if (rest >= 1024 && (b.length === this.slabSize || rest <= 4 * this.slabSize)) {
      this.start = this.pos = next;
      return out;
    }
    // Start a new slab. A large buffer that was grown for this message and is
    // mostly empty is not kept alive by the result: copy the result out.
    if (b.length > this.slabSize && out.length < b.length >>> 1) out = Buffer.from(out);
    this.buf = Buffer.allocUnsafeSlow(this.slabSize);
    this.start = this.pos = 0;
    return out;
  }

  /** Discards what was written since the last `finish()`. */
  reset(): this {
    this.pos = this.start;
    return this;
  }

  /** Makes room for `n` more bytes, moving the current message to a new buffer. */
  private grow(n: number): void {
    const used = this.pos - this.start;
    // Room for this write plus as much again as is used (amortized doubling
    // while a message grows piece by piece; little waste for one large write).
    const size = Math.max(this.slabSize, used + n + Math.max(4096, used));
    const nb = Buffer.allocUnsafeSlow(size);
    this.buf.copy(nb, 0, this.start, this.pos);
    this.buf = nb;
    this.start = 0;
    this.pos = used;
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
    let b = this.buf;
    let p = this.pos;
    let cap = b.length;
    if (p + HEADROOM > cap) {
      this.grow(HEADROOM);
      b = this.buf;
      p = this.pos;
      cap = b.length;
    }
    const q0 = writeLeaf(root, b, p);
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
        children = new Array(2 * k);
        let j = 0;
        for (const [key, value] of m) {
          children[j++] = key;
          children[j++] = value;
        }
        aux = m;
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
            p = this.pos;
            cap = b.length;
          }
          const q = writeLeaf(children[i], b, p);
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
            p = this.pos;
            cap = b.length;
          }
          const q = writeLeaf(arr[i], b, p);
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
            p = this.pos;
            cap = b.length;
          }
          const q = writeLeaf(t, b, p);
          if (q < 0) break;
          p = q;
          continue;
        }
        if (e === END_NIL) {
          if (p + 1 > cap) {
            this.pos = p;
            this.grow(1);
            b = this.buf;
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
          this.writeBigint(BigInt(t));
          return false;
        }
        throw new EncodeError(`cannot encode ${t}: Erlang floats are finite`);
      case 'bigint':
        this.writeBigint(t);
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
    if (t instanceof Atom) {
      this.writeBytes(atomEncoding(t));
      return false;
    }
    if (t instanceof Float) {
      const v = t.value;
      if (!(typeof v === 'number' && v - v === 0)) throw new EncodeError(`cannot encode Float(${v}): Erlang floats are finite`);
      if (this.pos + 9 > this.buf.length) this.grow(9);
      this.pos = writeFloat(v, this.buf, this.pos);
      return false;
    }
    if (t instanceof Pid) {
      this.writePid(t);
      return false;
    }
    if (t instanceof Reference) {
      // NEWER_REFERENCE_EXT: 90, Len:16, Node, Creation:32, ID:32 * Len
      const ids = t.ids;
      if (!Array.isArray(ids) || ids.length > 5) throw new EncodeError('Reference.ids must be an array of at most 5 words');
      this.writeU8(90).writeU16(ids.length);
      this.writeAtom(t.node, 'Reference.node');
      this.writeU32(u32(t.creation, 'Reference.creation'));
      for (const id of ids) this.writeU32(u32(id, 'Reference.ids[]'));
      return false;
    }
    if (t instanceof Port) {
      // NEW_PORT_EXT: 89, Node, ID:32, Creation:32 / V4_PORT_EXT: 120, Node, ID:64, Creation:32
      const id = t.id;
      const big = typeof id === 'bigint' ? id : Number.isSafeInteger(id) && id >= 0 ? BigInt(id) : -1n;
      if (big < 0n || big > 0xffffffffffffffffn) throw new EncodeError('Port.id must be a 64-bit unsigned integer');
      const wide = big > 0xffffffffn;
      this.writeU8(wide ? 120 : 89);
      this.writeAtom(t.node, 'Port.node');
      if (wide) this.writeU32(Number(big >> 32n));
      this.writeU32(Number(big & 0xffffffffn)).writeU32(u32(t.creation, 'Port.creation'));
      return false;
    }
    if (t instanceof BitBinary) {
      // BIT_BINARY_EXT: 77, Len:32, Bits:8, Data (whole bytes -> BINARY_EXT)
      const d = t.data;
      const bits = t.bits;
      if (!(d instanceof Uint8Array)) throw new EncodeError('BitBinary.data must be a Uint8Array');
      if (d.length === 0 || bits === 8) {
        this.writeU8(109).writeU32(d.length).writeBytes(d);
        return false;
      }
      if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8)) throw new EncodeError(`BitBinary.bits must be 1..8, got ${bits}`);
      this.writeU8(77).writeU32(d.length).writeU8(bits).writeBytes(d);
      return false;
    }
    if (t instanceof ImproperList) {
      // LIST_EXT: 108, Length:32, Elements, Tail. No heads: just the tail.
      const el = t.elements;
      if (!Array.isArray(el)) throw new EncodeError('ImproperList.elements must be an array');
      if (el.length === 0) return this.open([t.tail], END_NONE, undefined);
      this.writeU8(108).writeU32(el.length);
      return this.open(el, END_TAIL, t.tail);
    }
    if (t instanceof Fun) return this.writeFunHeader(t);
    if (t instanceof ExportFun) {
      // EXPORT_EXT: 113, Module, Function, Arity (SMALL_INTEGER_EXT)
      this.writeU8(113);
      this.writeAtom(t.module, 'ExportFun.module');
      this.writeAtom(t.function, 'ExportFun.function');
      const a = t.arity;
      if (!(Number.isInteger(a) && a >= 0 && a <= 255)) throw new EncodeError('ExportFun.arity must be 0..255');
      this.writeU8(97).writeU8(a);
      return false;
    }
    if (t instanceof LocalExt) {
      const d = t.bytes;
      if (!(d instanceof Uint8Array) || d[0] !== 121) throw new EncodeError('LocalExt.bytes must start with the LOCAL_EXT tag 121');
      this.writeBytes(d);
      return false;
    }
    const proto = Object.getPrototypeOf(t);
    if (proto === Object.prototype || proto === null) {
      // A plain object: MAP_EXT with its own enumerable keys as UTF-8 binaries.
      const o = t as Record<string, Term>;
      const keys = Object.keys(o);
      const flat: Term[] = new Array(2 * keys.length);
      for (let i = 0; i < keys.length; i++) {
        flat[2 * i] = keys[i];
        flat[2 * i + 1] = o[keys[i]];
      }
      this.writeU8(116).writeU32(keys.length);
      return this.open(flat, END_NONE, o);
    }
    throw new EncodeError(`cannot encode ${describe(t)} as an Erlang term`);
  }

  /** Integer as SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT or LARGE_BIG_EXT. */
  private writeBigint(v: bigint): void {
    if (v >= -2147483648n && v <= 2147483647n) {
      this.writeInt32Term(Number(v));
      return;
    }
    const neg = v < 0n;
    const mag = bigintMagnitude(neg ? -v : v);
    const n = mag.length;
    if (n > MAX_BIG_BYTES) throw new EncodeError(`integer of ${n} bytes exceeds Erlang's limit of ${MAX_BIG_BYTES} bytes`);
    if (n <= 255) this.writeU8(110).writeU8(n);
    else this.writeU8(111).writeU32(n);
    this.writeU8(neg ? 1 : 0).writeBytes(mag);
  }

  /** A 32-bit signed integer as SMALL_INTEGER_EXT or INTEGER_EXT. */
  private writeInt32Term(v: number): void {
    if (v >= 0 && v <= 255) this.writeU8(97).writeU8(v);
    else this.writeU8(98).writeU32(v >>> 0);
  }

  private writeAtom(a: unknown, what: string): void {
    if (!(a instanceof Atom)) throw new EncodeError(`${what} must be an Atom`);
    this.writeBytes(atomEncoding(a));
  }

  /** NEW_PID_EXT: 88, Node, ID:32, Serial:32, Creation:32. */
  private writePid(t: Pid): void {
    this.writeU8(88);
    this.writeAtom(t.node, 'Pid.node');
    this.writeU32(u32(t.id, 'Pid.id')).writeU32(u32(t.serial, 'Pid.serial'));
    this.writeU32(u32(t.creation, 'Pid.creation'));
  }

  /** NEW_FUN_EXT up to and including Pid; the free variables follow as children. */
  private writeFunHeader(f: Fun): true {
    // 112, Size:32, Arity:8, Uniq:16, Index:32, NumFree:32, Module, OldIndex, OldUniq, Pid, Free vars
    const free = f.freeVars;
    if (!Array.isArray(free)) throw new EncodeError('Fun.freeVars must be an array');
    if (!(f.uniq instanceof Uint8Array) || f.uniq.length !== 16) throw new EncodeError('Fun.uniq must be 16 bytes');
    if (!(Number.isInteger(f.arity) && f.arity >= 0 && f.arity <= 255)) throw new EncodeError('Fun.arity must be 0..255');
    if (!(f.pid instanceof Pid)) throw new EncodeError('Fun.pid must be a Pid');
    this.writeU8(112);
    const mark = this.reserveU32();
    this.writeU8(f.arity).writeBytes(f.uniq).writeU32(u32(f.index, 'Fun.index')).writeU32(free.length);
    this.writeAtom(f.module, 'Fun.module');
    this.writeInt32Term(i32(f.oldIndex, 'Fun.oldIndex'));
    this.writeInt32Term(i32(f.oldUniq, 'Fun.oldUniq'));
    this.writePid(f.pid);
    return this.open(free, END_FUN, mark);
  }
}

/** True when every element is an integer 0..255 (STRING_EXT material). */
function isByteList(a: Term[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 255) || (v | 0) !== v) return false;
  }
  return true;
}

function u32(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  throw new EncodeError(`${what} must be an unsigned 32-bit integer, got ${String(v)}`);
}

function i32(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= -2147483648 && n <= 2147483647) return n;
  throw new EncodeError(`${what} must be a signed 32-bit integer, got ${String(v)}`);
}
