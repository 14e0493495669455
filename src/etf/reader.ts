/**
 * The decoder's core (used by decode.ts): one term from External Term Format
 * bytes (erl_ext_dist), iteratively. Containers under construction sit on an
 * explicit stack, so nesting depth is limited only by memory; every read is
 * bounds-checked first; every length is checked against the bytes left
 * before anything is allocated; every malformed input raises DecodeError
 * with a stable code, the tag and the byte offset.
 */
import { Buffer } from 'node:buffer';
import { cachedAtom, latin1Atom, utf8Atom } from './atoms.js';
import { bufferView } from './buffers.js';
import { readBig } from './bignum.js';
import { DupKeys, isSimpleKey } from './mapkeys.js';
import { MAX_BIG_BYTES } from './tags.js';
import * as I from './read-ids.js';
import { exportAfter, idEnd, makeFun, oldFloat, oldRefAfter, pidAfter, portAfter, refAfter } from './read-ids.js';
import { Atom, BitBinary, Float, ImproperList, LocalExt, Tuple, atom, type Term } from './types.js';

export { fail, truncated } from './read-ids.js';

// Module-local copies of what the hot loop calls (an imported binding costs a check on every use).
const u32 = I.u32;
const fail: typeof I.fail = I.fail;
const truncated: typeof I.truncated = I.truncated;

// Frame kinds of the decode stack.
const K_TUPLE = 0;
const K_LIST = 1; // elements, then (fIdx === fLen) the tail
const K_MAP = 2;
const K_FUN = 3; // Module, OldIndex, OldUniq, Pid, free variables
const K_LOCAL = 4; // one term inside LOCAL_EXT

// The stack, as parallel arrays reused across calls (decode never re-enters).
const fKind: number[] = [];
const fObj: unknown[] = [];
const fIdx: number[] = [];
const fLen: number[] = [];
const fAux: unknown[] = [];
const fPos: number[] = [];
const fKey: Term[] = []; // a map's key waiting for its value

// Per-call state.
let lossless = false;
/** Elements that may still be decoded (the decoded-element limit); below 0 is an error. */
let budget = 0;
let maxElements = 0;
let keyLevel = 0; // map frames on the stack that are decoding a key
let localLevel = 0; // LOCAL_EXT frames on the stack
let cache: readonly (Atom | undefined)[] | undefined;

const TRUE = atom('true');
const FALSE = atom('false');
/** Stands for the local node (NIL_EXT in a node field) inside LOCAL_EXT. */
const LOCAL_NODE = atom('');

// Host-order scratch for IEEE doubles.
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The decoded-element limit is exceeded by a container at `offset`. */
function tooMany(offset: number, tag: number): never {
  fail('ERR_DECODE_TOO_MANY_ELEMENTS', `more than ${maxElements} elements`, offset, tag);
}

/**
 * Decodes one term at `b[p0]`, not past `end`. Returns it; {@link readEnd}
 * then gives the position after it. `lossless`, `cache` and `limit` (the
 * most elements, the term itself included) as in DecodeOptions.
 */
export function readTerm(
  b: Buffer,
  p0: number,
  end: number,
  isLossless: boolean,
  atomCache: readonly (Atom | undefined)[] | undefined,
  limit: number,
): Term {
  lossless = isLossless;
  cache = atomCache;
  maxElements = limit;
  budget = limit - 1;
  keyLevel = 0;
  localLevel = 0;
  try {
    return decodeTerm(b, p0, end);
  } catch (e) {
    // Drop the half-built containers so that they are not kept alive.
    fObj.fill(undefined);
    fAux.fill(undefined);
    fKey.fill(undefined);
    throw e;
  }
}

/** The position after the term of the last {@link readTerm}. */
export function readEnd(): number {
  return pos;
}

/** End position of the last {@link decodeTerm} / {@link readAtom}. */
let pos = 0;

// The buffer set by viewSource, with its memory and offset (reading `b.buffer`
// and `b.byteOffset` costs about 25 ns, paid per term holding a binary).
let srcB: Buffer | undefined;
let srcMem: ArrayBufferLike | undefined;
let srcBase = 0;

/**
 * @internal Names the buffer the next decodes read from (the distribution
 * layer's read chunk, holding a hundred small messages), so that binaries
 * in them are viewed without fetching its memory and offset each time; and
 * `undefined` to let it go (the caller keeps nothing alive past its read).
 */
export function viewSource(b: Buffer | undefined): void {
  if (b === srcB) return;
  srcB = b;
  srcMem = b === undefined ? undefined : b.buffer;
  srcBase = b === undefined ? 0 : b.byteOffset;
}

/**
 * Reads an atom (any of the four atom tags or ATOM_CACHE_REF) at `p`; sets
 * {@link pos} past it. Inside LOCAL_EXT, NIL_EXT stands for the local node.
 */
function readAtom(b: Buffer, p: number, end: number, what: string): Atom {
  if (p >= end) truncated(p);
  const tag = b[p];
  let n: number;
  let s: number;
  switch (tag) {
    case 119: // SMALL_ATOM_UTF8_EXT: 119, Len:8, UTF-8 text
    case 115: // SMALL_ATOM_EXT: 115, Len:8, Latin-1 text
      if (p + 2 > end) truncated(p, tag);
      n = b[p + 1];
      s = p + 2;
      break;
    case 118: // ATOM_UTF8_EXT: 118, Len:16, UTF-8 text
    case 100: // ATOM_EXT: 100, Len:16, Latin-1 text
      if (p + 3 > end) truncated(p, tag);
      n = (b[p + 1] << 8) | b[p + 2];
      s = p + 3;
      if (tag === 100 && n > 255) fail('ERR_DECODE_ATOM_TOO_LONG', `atom of ${n} characters`, p, tag);
      break;
    case 82: {
      // ATOM_CACHE_REF: 82, AtomCacheReferenceIndex:8
      if (p + 2 > end) truncated(p, tag);
      const i = b[p + 1];
      const a = cache === undefined ? undefined : cache[i];
      if (!(a instanceof Atom)) {
        fail('ERR_DECODE_ATOM_CACHE', cache === undefined ? 'atom cache reference without an atom cache' : `atom cache entry ${i} is empty`, p, tag);
      }
      pos = p + 2;
      return a;
    }
    case 106: // NIL_EXT as a node name: the local node, inside LOCAL_EXT only
      if (localLevel === 0) fail('ERR_DECODE_BAD_TERM', `${what} is not an atom`, p, tag);
      pos = p + 1;
      return LOCAL_NODE;
    default:
      return fail('ERR_DECODE_BAD_TERM', `${what} is not an atom`, p, tag);
  }
  if (s + n > end) fail('ERR_DECODE_BAD_LENGTH', `atom length ${n} exceeds the input`, p, tag);
  pos = s + n;
  if (tag === 115 || tag === 100) return latin1Atom(b, s, n);
  const a = utf8Atom(b, s, n);
  if (a === 'utf8') fail('ERR_DECODE_BAD_ATOM', 'atom text is not valid UTF-8', p, tag);
  if (a === 'long') fail('ERR_DECODE_ATOM_TOO_LONG', 'atom of more than 255 characters', p, tag);
  return a;
}

/** Decodes one term at `b[p0]`; sets {@link pos} to the byte after it. */
function decodeTerm(b: Buffer, p0: number, end: number): Term {
  // `b.buffer` is slow to read: fetched at the first binary only.
  let mem: ArrayBufferLike | undefined;
  let base = 0;
  let p = p0;
  let sp = 0;
  let v: Term;
  next: for (;;) {
    if (p >= end) truncated(p);
    const tag = b[p];
    switch (tag) {
      case 97: // SMALL_INTEGER_EXT: 97, Int:8 (unsigned)
        if (p + 2 > end) truncated(p, tag);
        v = b[p + 1];
        p += 2;
        break;
      case 98: // INTEGER_EXT: 98, Int:32 (signed, big-endian)
        if (p + 5 > end) truncated(p, tag);
        v = (b[p + 1] << 24) | (b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4];
        p += 5;
        break;
      case 70: {
        // NEW_FLOAT_EXT: 70, IEEE double (big-endian)
        if (p + 9 > end) truncated(p, tag);
        if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) f64b[7 - i] = b[p + 1 + i];
        else for (let i = 0; i < 8; i++) f64b[i] = b[p + 1 + i];
        const d = f64[0];
        if (!(d - d === 0)) fail('ERR_DECODE_BAD_FLOAT', 'NaN or infinite float', p, tag);
        v = (lossless || keyLevel > 0) && Number.isInteger(d) ? new Float(d) : d;
        p += 9;
        break;
      }
      case 119: // SMALL_ATOM_UTF8_EXT: 119, Len:8, text
      case 115: {
        // SMALL_ATOM_EXT: 115, Len:8, text. Fast path: a cached atom.
        if (p + 2 <= end) {
          const n = b[p + 1];
          if (p + 2 + n <= end) {
            const a = cachedAtom(b, p + 2, n);
            if (a !== undefined) {
              p += 2 + n;
              v = a === TRUE ? true : a === FALSE ? false : a;
              break;
            }
          }
        }
        const a = readAtom(b, p, end, 'atom');
        p = pos;
        v = a === TRUE ? true : a === FALSE ? false : a;
        break;
      }
      case 82: {
        // ATOM_CACHE_REF: 82, AtomCacheReferenceIndex:8 (the common atom in distribution messages)
        const a = cache !== undefined && p + 2 <= end ? cache[b[p + 1]] : undefined;
        if (a instanceof Atom) {
          p += 2;
          v = a === TRUE ? true : a === FALSE ? false : a;
          break;
        }
        v = readAtom(b, p, end, 'atom'); // throws the precise error
        p = pos;
        break;
      }
      case 118: // ATOM_UTF8_EXT
      case 100: {
        // ATOM_EXT
        const a = readAtom(b, p, end, 'atom');
        p = pos;
        v = a === TRUE ? true : a === FALSE ? false : a;
        break;
      }
      case 104: // SMALL_TUPLE_EXT: 104, Arity:8, Elements
      case 105: {
        // LARGE_TUPLE_EXT: 105, Arity:32, Elements
        let n: number;
        if (tag === 104) {
          if (p + 2 > end) truncated(p, tag);
          n = b[p + 1];
          if ((budget -= n) < 0) tooMany(p, tag);
          p += 2;
        } else {
          if (p + 5 > end) truncated(p, tag);
          n = u32(b, p + 1);
          if (n > end - p - 5) fail('ERR_DECODE_BAD_LENGTH', `tuple arity ${n} exceeds the input`, p, tag);
          if ((budget -= n) < 0) tooMany(p, tag);
          p += 5;
        }
        if (n === 0) {
          v = new Tuple([]);
          break;
        }
        const s = sp++;
        fKind[s] = K_TUPLE;
        fObj[s] = new Array(n);
        fIdx[s] = 0;
        fLen[s] = n;
        continue next;
      }
      case 106: // NIL_EXT
        v = [];
        p += 1;
        break;
      case 107: {
        // STRING_EXT: 107, Length:16, bytes -> an array of numbers
        if (p + 3 > end) truncated(p, tag);
        const n = (b[p + 1] << 8) | b[p + 2];
        p += 3;
        if (p + n > end) fail('ERR_DECODE_BAD_LENGTH', `string length ${n} exceeds the input`, p - 3, tag);
        if ((budget -= n) < 0) tooMany(p - 3, tag);
        const a: number[] = new Array(n);
        for (let i = 0; i < n; i++) a[i] = b[p + i];
        v = a;
        p += n;
        break;
      }
      case 108: {
        // LIST_EXT: 108, Length:32, Elements, Tail
        if (p + 5 > end) truncated(p, tag);
        const n = u32(b, p + 1);
        if (n >= end - p - 5) fail('ERR_DECODE_BAD_LENGTH', `list length ${n} exceeds the input`, p, tag);
        if ((budget -= n) < 0) tooMany(p, tag);
        p += 5;
        // With no elements the list is its tail.
        if (n === 0) continue next;
        const s = sp++;
        fKind[s] = K_LIST;
        fObj[s] = new Array(n);
        fIdx[s] = 0;
        fLen[s] = n;
        continue next;
      }
      case 109: {
        // BINARY_EXT: 109, Len:32, Data
        if (p + 5 > end) truncated(p, tag);
        const n = u32(b, p + 1);
        if (n > end - p - 5) fail('ERR_DECODE_BAD_LENGTH', `binary length ${n} exceeds the input`, p, tag);
        if (mem === undefined) {
          if (b === srcB) {
            mem = srcMem!;
            base = srcBase;
          } else {
            mem = b.buffer;
            base = b.byteOffset;
          }
        }
        v = bufferView(mem, base + p + 5, n);
        p += 5 + n;
        break;
      }
      case 116: {
        // MAP_EXT: 116, Arity:32, K1, V1, ..., Kn, Vn
        if (p + 5 > end) truncated(p, tag);
        const n = u32(b, p + 1);
        if (n > (end - p - 5) / 2) fail('ERR_DECODE_BAD_LENGTH', `map arity ${n} exceeds the input`, p, tag);
        if ((budget -= 2 * n) < 0) tooMany(p, tag);
        p += 5;
        if (n === 0) {
          v = new Map();
          break;
        }
        const s = sp++;
        fKind[s] = K_MAP;
        fObj[s] = new Map();
        fIdx[s] = 0;
        fLen[s] = 2 * n;
        fAux[s] = undefined;
        fPos[s] = p;
        keyLevel++;
        continue next;
      }
      case 110: // SMALL_BIG_EXT: 110, n:8, Sign:8, digits
      case 111: {
        // LARGE_BIG_EXT: 111, n:32, Sign:8, digits
        let n: number;
        let s: number;
        if (tag === 110) {
          if (p + 3 > end) truncated(p, tag);
          n = b[p + 1];
          s = p + 2;
        } else {
          if (p + 6 > end) truncated(p, tag);
          n = u32(b, p + 1);
          if (n > MAX_BIG_BYTES) fail('ERR_DECODE_BIG_TOO_LARGE', `bignum of ${n} bytes is over OTP's limit`, p, tag);
          s = p + 5;
        }
        if (n > end - s - 1) fail('ERR_DECODE_BAD_LENGTH', `bignum length ${n} exceeds the input`, p, tag);
        // Sign: 0 positive, anything else negative (as OTP reads it).
        v = readBig(b, s + 1, n, b[s] !== 0);
        p = s + 1 + n;
        break;
      }
      case 77: {
        // BIT_BINARY_EXT: 77, Len:32, Bits:8, Data
        if (p + 6 > end) truncated(p, tag);
        const n = u32(b, p + 1);
        const bits = b[p + 5];
        if (n > end - p - 6) fail('ERR_DECODE_BAD_LENGTH', `bitstring length ${n} exceeds the input`, p, tag);
        if (n === 0 ? bits !== 0 : bits < 1 || bits > 8) {
          fail('ERR_DECODE_BAD_BITS', `bit count ${bits} for ${n} bytes`, p, tag);
        }
        if (mem === undefined) {
          mem = b.buffer;
          base = b.byteOffset;
        }
        const data = bufferView(mem, base + p + 6, n);
        if (n === 0 || bits === 8) v = data;
        else {
          // OTP ignores the unused low bits of the last byte; clear them.
          const last = data[n - 1];
          const kept = last & ((0xff << (8 - bits)) & 0xff);
          if (kept === last) v = new BitBinary(data, bits);
          else {
            const copy = Buffer.from(data);
            copy[n - 1] = kept;
            v = new BitBinary(copy, bits);
          }
        }
        p += 6 + n;
        break;
      }
      case 88: // NEW_PID_EXT: 88, Node, ID:32, Serial:32, Creation:32
      case 103: {
        // PID_EXT: 103, Node, ID:32, Serial:32, Creation:8
        const node = readAtom(b, p + 1, end, 'pid node');
        v = pidAfter(b, p, pos, end, tag, node);
        p = idEnd();
        break;
      }
      case 89: // NEW_PORT_EXT: 89, Node, ID:32, Creation:32
      case 102: // PORT_EXT: 102, Node, ID:32, Creation:8
      case 120: {
        // V4_PORT_EXT: 120, Node, ID:64, Creation:32
        const node = readAtom(b, p + 1, end, 'port node');
        v = portAfter(b, p, pos, end, tag, node);
        p = idEnd();
        break;
      }
      case 90: // NEWER_REFERENCE_EXT: 90, Len:16, Node, Creation:32, ID:32 * Len
      case 114: {
        // NEW_REFERENCE_EXT: 114, Len:16, Node, Creation:8, ID:32 * Len
        if (p + 3 > end) truncated(p, tag);
        const n = (b[p + 1] << 8) | b[p + 2];
        if (n > 5) fail('ERR_DECODE_BAD_LENGTH', `reference of ${n} words (at most 5)`, p, tag);
        const node = readAtom(b, p + 3, end, 'reference node');
        v = refAfter(b, p, pos, end, tag, node, n);
        p = idEnd();
        break;
      }
      case 101: {
        // REFERENCE_EXT: 101, Node, ID:32, Creation:8
        const node = readAtom(b, p + 1, end, 'reference node');
        v = oldRefAfter(b, p, pos, end, node);
        p = idEnd();
        break;
      }
      case 113: {
        // EXPORT_EXT: 113, Module, Function, Arity
        const m = readAtom(b, p + 1, end, 'export module');
        const f = readAtom(b, pos, end, 'export function');
        v = exportAfter(b, p, pos, end, m, f);
        p = idEnd();
        break;
      }
      case 112: {
        // NEW_FUN_EXT: 112, Size:32, Arity:8, Uniq:16, Index:32, NumFree:32,
        //              Module, OldIndex, OldUniq, Pid, Free vars
        // Size is not checked: OTP ignores it (25-29); encode recomputes it.
        if (p + 30 > end) truncated(p, tag);
        const numFree = u32(b, p + 26);
        if (numFree > end - p - 30) fail('ERR_DECODE_BAD_LENGTH', `fun with ${numFree} free variables exceeds the input`, p, tag);
        if ((budget -= 4 + numFree) < 0) tooMany(p, tag);
        const s = sp++;
        fKind[s] = K_FUN;
        fObj[s] = new Array(4 + numFree);
        fIdx[s] = 0;
        fLen[s] = 4 + numFree;
        fAux[s] = bufferView(b.buffer, b.byteOffset + p + 6, 16);
        fPos[s] = p;
        p += 30;
        continue next;
      }
      case 121: {
        // LOCAL_EXT (OTP 26+): 121, Hash:32, one term in the node-local
        // encoding (in which node names may be NIL_EXT); kept opaque.
        if (p + 5 > end) truncated(p, tag);
        if ((budget -= 1) < 0) tooMany(p, tag);
        const s = sp++;
        fKind[s] = K_LOCAL;
        fObj[s] = undefined;
        fIdx[s] = 0;
        fLen[s] = 1;
        fPos[s] = p;
        localLevel++;
        p += 5;
        continue next;
      }
      case 99: {
        // FLOAT_EXT: 99, 31 bytes of "%.20e" text, NUL-padded (minor version 0)
        if (p + 32 > end) truncated(p, tag);
        const d = oldFloat(b, p);
        v = (lossless || keyLevel > 0) && Number.isInteger(d) ? new Float(d) : d;
        p += 32;
        break;
      }
      case 80:
        return fail('ERR_DECODE_BAD_TERM', 'a compressed term may only appear at the top level', p, tag);
      default:
        return fail('ERR_DECODE_UNKNOWN_TAG', `unknown tag ${tag}`, p, tag);
    }

    // `v` is complete: hand it to the enclosing containers, closing those that fill up.
    for (;;) {
      if (sp === 0) {
        pos = p;
        return v;
      }
      const s = sp - 1;
      switch (fKind[s]) {
        case K_TUPLE: {
          const a = fObj[s] as Term[];
          const i = fIdx[s];
          a[i] = v;
          if (i + 1 < fLen[s]) {
            fIdx[s] = i + 1;
            continue next;
          }
          v = new Tuple(a);
          break;
        }
        case K_LIST: {
          const a = fObj[s] as Term[];
          let i = fIdx[s];
          if (i === fLen[s]) {
            // `v` is the tail (never a list: list tails are merged below).
            v = new ImproperList(a, v);
            break;
          }
          a[i++] = v;
          if (i < fLen[s]) {
            fIdx[s] = i;
            continue next;
          }
          // All heads are in: merge list-shaped tails in place (linear time
          // for lists chained through their tails), then stop at NIL.
          let proper = false;
          for (;;) {
            if (p >= end) truncated(p);
            const t = b[p];
            if (t === 106) {
              p++;
              proper = true;
              break;
            }
            if (t === 107) {
              if (p + 3 > end) truncated(p, t);
              const n = (b[p + 1] << 8) | b[p + 2];
              if (p + 3 + n > end) fail('ERR_DECODE_BAD_LENGTH', `string length ${n} exceeds the input`, p, t);
              if ((budget -= n) < 0) tooMany(p, t);
              for (let k = 0; k < n; k++) a.push(b[p + 3 + k]);
              p += 3 + n;
              proper = true;
              break;
            }
            if (t !== 108) break;
            if (p + 5 > end) truncated(p, t);
            const n = u32(b, p + 1);
            if (n >= end - p - 5) fail('ERR_DECODE_BAD_LENGTH', `list length ${n} exceeds the input`, p, t);
            if ((budget -= n) < 0) tooMany(p, t);
            p += 5;
            if (n > 0) {
              fLen[s] = i + n;
              a.length = i + n;
              break;
            }
          }
          if (proper) {
            v = a;
            break;
          }
          fIdx[s] = i;
          continue next;
        }
        case K_MAP: {
          const m = fObj[s] as Map<Term, Term>;
          const i = fIdx[s];
          if ((i & 1) === 0) {
            // `v` is a key: refuse =:= duplicates.
            keyLevel--;
            // Simple keys are checked when the pair is stored (below).
            if (!isSimpleKey(v)) {
              let d = fAux[s] as DupKeys | undefined;
              if (d === undefined) d = fAux[s] = new DupKeys();
              if (d.addOrFind(v)) fail('ERR_DECODE_DUPLICATE_KEY', 'duplicate map key', fPos[s], b[fPos[s]]);
            }
            fKey[s] = v;
            fIdx[s] = i + 1;
            continue next;
          }
          m.set(fKey[s], v);
          if (m.size !== (i + 1) >>> 1) fail('ERR_DECODE_DUPLICATE_KEY', 'duplicate map key', fPos[s], b[fPos[s]]);
          if (i + 1 < fLen[s]) {
            fIdx[s] = i + 1;
            fPos[s] = p;
            keyLevel++;
            continue next;
          }
          fAux[s] = undefined;
          fKey[s] = undefined;
          v = m;
          break;
        }
        case K_FUN: {
          const a = fObj[s] as Term[];
          const i = fIdx[s];
          a[i] = v;
          if (i + 1 < fLen[s]) {
            fIdx[s] = i + 1;
            continue next;
          }
          v = makeFun(b, fPos[s], a, fAux[s] as Buffer, localLevel > 0);
          fAux[s] = undefined;
          break;
        }
        default: {
          // K_LOCAL: the inner term is only parsed to find where LOCAL_EXT ends.
          localLevel--;
          v = new LocalExt(bufferView(b.buffer, b.byteOffset + fPos[s], p - fPos[s]));
          break;
        }
      }
      fObj[s] = undefined;
      sp = s;
    }
  }
}
