/**
 * {@link TermWriter}: the External Term Format encoder, as a builder over one
 * growable buffer (the byte layer is {@link ByteBuilder}, builder.ts).
 * `encode()` (encode.ts) is a thin wrapper around a shared instance; the
 * distribution layer keeps its own to build whole frames.
 *
 * Byte layouts follow erl_ext_dist ("External Term Format"); each case names
 * its section. The encoder is iterative: containers wait on an explicit stack
 * of frames while their children are written, leaves (numbers, atoms,
 * booleans; write-leaves.ts) are written inline, so a term nested a million levels deep
 * encodes like a flat one. Once the stack is deep, the containers on it are
 * tracked so that a cyclic structure raises an error instead of looping.
 */
import { ByteBuilder } from './builder.js';
import { EncodeError } from './errors.js';
import { atomRefHook } from './atoms.js';
import { typedLength } from './buffers.js';
import * as L from './write-leaves.js';
import { Atom, Pid, Reference, Tuple, type Term } from './types.js';
import * as W from './write-terms.js';
import { describe, isByteList, writeBigint, writeRare } from './write-terms.js';

// Module-local copies: imported bindings cost a check on every use in the hot loop.
const END_NONE = W.END_NONE;
const END_NIL = W.END_NIL;
const END_TAIL = W.END_TAIL;
const END_FUN = W.END_FUN;
/** Free space guaranteed before each leaf ({@link L.HEADROOM}). */
const HEADROOM = L.HEADROOM;
const writeLeaf = L.writeLeaf;
const writeNodeAtom = L.writeNodeAtom;
const writePidLeaf = L.writePidLeaf;
const writeRefLeaf = L.writeRefLeaf;
const flatten = L.flatten;

/** Stack depth from which the containers on the stack are tracked (cycles). */
const CYCLE_CHECK_DEPTH = 1000;

const EMPTY: Term[] = [];


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
      // instanceof and Array.isArray rather than `t.constructor`, whose load
      // goes megamorphic in a term mixing maps, lists, tuples and binaries.
      if (t instanceof Tuple) {
        // SMALL_TUPLE_EXT: 104, Arity:8 / LARGE_TUPLE_EXT: 105, Arity:32
        children = t.elements;
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
      } else if (Array.isArray(t) && t.length > 0 && !isByteList(t)) {
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
      } else if (t instanceof Map && t.constructor === Map) {
        // (A subclass of Map takes writeSlow, which iterates it with for...of.)
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
      } else if ((t instanceof Pid || t instanceof Reference) && (q = t instanceof Pid ? writePidLeaf(t, b, dv, p, refs) : writeRefLeaf(t, b, dv, p, refs)) >= 0) {
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
    // (Tuples never get here: encodeLoop writes every one.)
    if (Array.isArray(t)) {
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
      // BINARY_EXT: 109, Len:32, Data (the length `set` copies; see typedLength)
      const n = typedLength.call(t);
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
    if (t instanceof Map) {
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
