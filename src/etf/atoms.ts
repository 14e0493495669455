/**
 * Atom text <-> bytes for the codec, with caches on both sides.
 *
 * Encoding: every {@link Atom} gets its complete encoding (tag, length, UTF-8
 * text; erl_ext_dist "SMALL_ATOM_UTF8_EXT" / "ATOM_UTF8_EXT") computed once
 * and kept on the atom object itself (its internal `ext` and `extWords`
 * fields), so the writer's hot path reads a field instead of a map. The cache
 * lives and dies with the atom (interned ones live forever).
 *
 * Decoding: ASCII atom texts of up to {@link MAX_CACHED_LEN} bytes are looked
 * up in a small hash table keyed by their bytes, so a hot atom (`ok`, a node
 * name, a record tag) is found without building a string or hashing one.
 * Longer and non-ASCII atoms take the slow path: Latin-1 or strict UTF-8
 * decoding, length check, then {@link atom} interning.
 */
import { Buffer } from 'node:buffer';
import { EncodeError } from './errors.js';
import { ATOM_UTF8_EXT, MAX_ATOM_CHARS, SMALL_ATOM_UTF8_EXT } from './tags.js';
import { Atom, atom } from './types.js';

// ---------------------------------------------------------------- encoding

/**
 * @internal Atom cache references while a distribution message is written
 * (erl_ext_dist "Distribution Header"): `ref(a)` returns the index (0..254)
 * of `a` among the message's cache references, to be written as
 * ATOM_CACHE_REF, or -1 to write the atom in full. Set by the distribution
 * encoder around the terms of one message; undefined otherwise.
 */
export interface AtomRefTable {
  ref(a: Atom): number;
}

/**
 * @internal The table of the message being written (see {@link AtomRefTable})
 * and the writer (a TermWriter) writing it: other writers, such as an
 * `encode()` called by a getter meanwhile, write atoms in full.
 */
export const atomRefHook: { table: AtomRefTable | undefined; owner: unknown } = { table: undefined, owner: undefined };

/**
 * The full encoding of `a` (tag byte included), cached in `a.ext`. Throws
 * {@link EncodeError} when the name has more than 255 characters or a lone
 * surrogate (nothing is cached then).
 */
export function atomEncoding(a: Atom): Uint8Array {
  let e = a.ext;
  if (e === undefined) a.ext = e = computeAtomEncoding(a);
  return e;
}

/**
 * The encoding of `a` packed for fast copying, cached in `a.extWords`:
 * element 0 is the byte length, then the bytes as big-endian 32-bit words
 * (the last one zero-padded), to be written with `DataView.setInt32`. The
 * writer reads `a.extWords` itself and calls this only on a miss.
 */
export function atomWordsOf(a: Atom): Int32Array {
  let w = a.extWords;
  if (w === undefined) {
    const e = atomEncoding(a);
    const n = (e.length + 3) >>> 2;
    w = new Int32Array(1 + n);
    w[0] = e.length;
    for (let i = 0; i < e.length; i++) w[1 + (i >>> 2)] |= e[i] << (24 - 8 * (i & 3));
    a.extWords = w;
  }
  return w;
}

function computeAtomEncoding(a: Atom): Uint8Array {
  const name = a.name;
  if (typeof name !== 'string') throw new EncodeError('atom name is not a string');
  let chars = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = name.charCodeAt(i + 1);
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) {
        throw new EncodeError(`atom ${JSON.stringify(name)} contains a lone surrogate`);
      }
      i++;
    }
    chars++;
  }
  if (chars > MAX_ATOM_CHARS) {
    throw new EncodeError(`atom has ${chars} characters; Erlang allows at most ${MAX_ATOM_CHARS}`);
  }
  const text = Buffer.from(name, 'utf8');
  const n = text.length;
  if (n <= 255) {
    const out = new Uint8Array(2 + n);
    out[0] = SMALL_ATOM_UTF8_EXT;
    out[1] = n;
    out.set(text, 2);
    return out;
  }
  const out = new Uint8Array(3 + n);
  out[0] = ATOM_UTF8_EXT;
  out[1] = n >>> 8;
  out[2] = n & 0xff;
  out.set(text, 3);
  return out;
}

// ---------------------------------------------------------------- decoding

/** Longest ASCII atom text kept in the decode cache. */
export const MAX_CACHED_LEN = 48;
const SLOTS = 4096;
const slotBytes: (Uint8Array | undefined)[] = new Array(SLOTS).fill(undefined);
const slotAtoms: (Atom | undefined)[] = new Array(SLOTS).fill(undefined);
const EMPTY_ATOM = atom('');

/** Decode-cache slot of the atom text `b[s, s+n)`, n >= 1 (length and three bytes). */
function slotOf(b: Uint8Array, s: number, n: number): number {
  return (n * 31 + b[s] * 7 + b[s + (n >>> 1)] * 17 + b[s + n - 1] * 131) & (SLOTS - 1);
}

/**
 * The cached atom whose text is `b[s, s+n)`, or undefined when it is not in
 * the cache (a pure lookup, small enough to inline into the decoder's loop).
 * Cached texts are ASCII, so a hit reads the same in Latin-1 and UTF-8.
 */
export function cachedAtom(b: Uint8Array, s: number, n: number): Atom | undefined {
  if (n === 0) return undefined;
  const slot = slotOf(b, s, n);
  const k = slotBytes[slot];
  if (k === undefined || k.length !== n) return undefined;
  for (let i = 0; i < n; i++) if (k[i] !== b[s + i]) return undefined;
  return slotAtoms[slot];
}

/**
 * The interned atom whose text is the ASCII bytes `b[s, s+n)`, or undefined
 * when a byte is not ASCII (n <= {@link MAX_CACHED_LEN}; bounds checked by
 * the caller). ASCII text reads the same in Latin-1 and UTF-8, so both atom
 * tag families share the cache.
 */
export function asciiAtom(b: Uint8Array, s: number, n: number): Atom | undefined {
  if (n === 0) return EMPTY_ATOM;
  // A cheap slot from the length and three bytes; the comparison below decides.
  const slot = slotOf(b, s, n);
  const k = slotBytes[slot];
  if (k !== undefined && k.length === n) {
    let i = 0;
    while (i < n && k[i] === b[s + i]) i++;
    if (i === n) return slotAtoms[slot];
  }
  let name = '';
  for (let i = 0; i < n; i++) {
    const c = b[s + i];
    if (c >= 0x80) return undefined;
    name += String.fromCharCode(c);
  }
  const a = atom(name);
  // A copy: the input may be reused by the caller (Buffer#slice would be a view).
  const key = new Uint8Array(n);
  for (let i = 0; i < n; i++) key[i] = b[s + i];
  slotBytes[slot] = key;
  slotAtoms[slot] = a;
  return a;
}

/** The atom whose Latin-1 text is `b[s, s+n)` (ATOM_EXT / SMALL_ATOM_EXT). */
export function latin1Atom(b: Buffer, s: number, n: number): Atom {
  if (n <= MAX_CACHED_LEN) {
    const a = asciiAtom(b, s, n);
    if (a !== undefined) return a;
  }
  return atom(b.toString('latin1', s, s + n));
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The atom whose UTF-8 text is `b[s, s+n)`, or a string naming what is wrong:
 * `'utf8'` for invalid UTF-8, `'long'` for more than 255 characters.
 */
export function utf8Atom(b: Buffer, s: number, n: number): Atom | 'utf8' | 'long' {
  if (n <= MAX_CACHED_LEN) {
    const a = asciiAtom(b, s, n);
    if (a !== undefined) return a;
  }
  let text: string;
  try {
    text = utf8.decode(b.subarray(s, s + n));
  } catch {
    return 'utf8';
  }
  if (n > MAX_ATOM_CHARS) {
    // Count code points: UTF-16 length minus one per surrogate pair.
    let chars = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) chars--;
    }
    if (chars > MAX_ATOM_CHARS) return 'long';
  }
  return atom(text);
}
