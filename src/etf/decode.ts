/**
 * `decode()`: External Term Format bytes (erl_ext_dist) to JS values. This
 * file has the options, the version byte and compressed terms; the term
 * decoder itself is reader.ts.
 *
 * The decoder is iterative: containers under construction sit on an explicit
 * stack, so nesting depth is limited only by memory (a million-deep list is
 * fine). Every read is bounds-checked first, every length is checked against
 * the bytes left *before* anything is allocated, and every malformed input
 * raises `DecodeError` with a stable code, the tag and the byte offset.
 *
 * Mapping (see types.ts): integers are `number` in the safe range and `bigint`
 * outside; floats are `number` (with `lossless`, an integral float such as
 * `1.0` or `-0.0` is a `Float`); `true`/`false` are booleans, other atoms
 * interned {@link Atom}s; binaries are `Buffer` views of the input (zero-copy:
 * they share memory with `bytes`); lists and STRING_EXT are arrays; maps are
 * `Map`. Map keys are always decoded losslessly (an integral float anywhere
 * inside a key is a `Float`), because Erlang matches keys with `=:=`.
 */
import { Buffer } from 'node:buffer';
import { inflateSync } from 'node:zlib';
import { fail, readEnd, readTerm, truncated } from './reader.js';
import type { Atom, Term } from './types.js';

/** Options for {@link decode} and {@link decodeWithLength}. */
export interface DecodeOptions {
  /**
   * Keep floats apart from integers: an integral float (`1.0`, `-0.0`)
   * decodes to a {@link Float} instead of a `number`, so that
   * `encode(decode(b, { lossless: true }))` is `=:=` to the term in `b`.
   */
  lossless?: boolean;
  /**
   * ATOM_CACHE_REF resolution: index -> atom, as set up by the distribution
   * header (erl_ext_dist "Distribution Header"). A reference to a missing
   * entry raises `ERR_DECODE_ATOM_CACHE`.
   */
  atomCache?: readonly (Atom | undefined)[];
  /**
   * The most bytes a compressed term (tag 80) may inflate to; default 64 MiB.
   * A larger declared size is refused before inflating.
   */
  maxInflatedSize?: number;
  /**
   * The most elements one term may decode to, the term itself included:
   * every element of every tuple, list (STRING_EXT bytes too), map (keys and
   * values), fun and LOCAL_EXT counts one; a binary is one element whatever
   * its size. Default {@link DEFAULT_MAX_ELEMENTS} (10 million); `Infinity`
   * for no limit. A container that would pass the limit is refused with
   * `ERR_DECODE_TOO_MANY_ELEMENTS` before anything is allocated for it, so a
   * small compressed term cannot make the decoder build a list of tens of
   * millions of elements (work and memory the byte caps do not bound).
   */
  maxElements?: number;
  /** Where the term starts in `bytes` (default 0). */
  offset?: number;
  /** Expect the version byte 131 first (default true). */
  version?: boolean;
}

const DEFAULT_MAX_INFLATED = 64 * 1024 * 1024;

/**
 * The default decoded-element limit: 10 million elements, about a second of
 * decoding and half a gigabyte of JS heap, far beyond any message a chat tier
 * exchanges, and far below what an inflate bomb inside the 64 MiB cap could
 * otherwise build (tens of millions of elements, gigabytes).
 */
export const DEFAULT_MAX_ELEMENTS = 10_000_000;

/** @internal Options of {@link decodeSpan}, checked once (see {@link decodeLimits}). */
export interface DecodeLimits {
  readonly lossless: boolean;
  readonly maxInflated: number;
  readonly maxElements: number;
}

const DEFAULT_LIMITS: DecodeLimits = { lossless: false, maxInflated: DEFAULT_MAX_INFLATED, maxElements: DEFAULT_MAX_ELEMENTS };

/** @internal The checked limits of `opts` (RangeError for a bad value). */
export function decodeLimits(opts: DecodeOptions | undefined): DecodeLimits {
  if (opts === undefined || (opts.lossless === undefined && opts.maxInflatedSize === undefined && opts.maxElements === undefined)) {
    return DEFAULT_LIMITS;
  }
  const maxInflated = opts.maxInflatedSize ?? DEFAULT_MAX_INFLATED;
  if (!(maxInflated >= 0)) throw new RangeError(`decode: maxInflatedSize must be >= 0, got ${maxInflated}`);
  const maxElements = opts.maxElements ?? DEFAULT_MAX_ELEMENTS;
  if (!(maxElements >= 1)) throw new RangeError(`decode: maxElements must be >= 1, got ${maxElements}`);
  return { lossless: opts.lossless === true, maxInflated, maxElements };
}

/**
 * Decodes one term that must fill `bytes` from `opts.offset` to the end;
 * trailing bytes raise `ERR_DECODE_TRAILING`.
 */
export function decode(bytes: Uint8Array, opts?: DecodeOptions): Term {
  const b = asBuffer(bytes);
  const term = decodeSpan(b, startOf(b, opts), b.length, opts?.version !== false, opts?.atomCache, decodeLimits(opts));
  if (spanEnd !== b.length) fail('ERR_DECODE_TRAILING', `${b.length - spanEnd} bytes after the term`, spanEnd);
  return term;
}

/**
 * Decodes one term starting at `opts.offset` and reports how many bytes it
 * used (version byte included); bytes after it are left alone.
 */
export function decodeWithLength(bytes: Uint8Array, opts?: DecodeOptions): { term: Term; length: number } {
  const b = asBuffer(bytes);
  const start = startOf(b, opts);
  const term = decodeSpan(b, start, b.length, opts?.version !== false, opts?.atomCache, decodeLimits(opts));
  return { term, length: spanEnd - start };
}

function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError('decode: bytes must be a Uint8Array');
}

function startOf(b: Buffer, opts: DecodeOptions | undefined): number {
  const start = opts?.offset;
  if (start === undefined) return 0;
  if (!(Number.isInteger(start) && start >= 0 && start <= b.length)) {
    throw new RangeError(`decode: offset ${start} is outside the input (length ${b.length})`);
  }
  return start;
}

/** End of the term of the last {@link decodeSpan}. */
let spanEnd = 0;

/** @internal Where the term of the last {@link decodeSpan} ended (the position after it). */
export function decodeSpanEnd(): number {
  return spanEnd;
}

/**
 * @internal Decodes one term from `b[start]`, not past `end` (bytes after the
 * term are left alone; {@link decodeSpanEnd} tells where it ended): with the
 * version byte first when `version`, a compressed term (tag 80) at the top,
 * ATOM_CACHE_REF resolved through `cache`. The distribution layer calls
 * this on the frames it reads, without a view or an options object per term.
 */
export function decodeSpan(
  b: Buffer,
  start: number,
  end: number,
  version: boolean,
  cache: readonly (Atom | undefined)[] | undefined,
  lim: DecodeLimits,
): Term {
  let p = start;
  if (version) {
    if (p >= end) truncated(p);
    if (b[p] !== 131) fail('ERR_DECODE_BAD_VERSION', `version byte is ${b[p]}, not 131`, p);
    p++;
  }
  if (p < end && b[p] === 80) return inflated(b, p, end, cache, lim);
  const term = readTerm(b, p, end, lim.lossless, cache, lim.maxElements);
  spanEnd = readEnd();
  return term;
}

/** Compressed term: 80, UncompressedSize:32, zlib data (erl_ext_dist "Introduction"). */
function inflated(b: Buffer, p: number, end: number, cache: readonly (Atom | undefined)[] | undefined, lim: DecodeLimits): Term {
  if (p + 5 > end) truncated(p, 80);
  const size = b.readUInt32BE(p + 1);
  if (size > lim.maxInflated) {
    fail('ERR_DECODE_INFLATE_LIMIT', `compressed term declares ${size} bytes, over the limit of ${lim.maxInflated}`, p, 80);
  }
  if (size === 0) fail('ERR_DECODE_BAD_COMPRESSED', 'compressed term declares 0 bytes', p, 80);
  let out: Buffer;
  let used: number;
  try {
    const r = inflateSync(b.subarray(p + 5, end), { maxOutputLength: size, info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    out = r.buffer;
    used = r.engine.bytesWritten;
  } catch (e) {
    const msg = (e as Error).message;
    return fail('ERR_DECODE_BAD_COMPRESSED', `zlib data does not inflate to ${size} bytes (${msg})`, p, 80);
  }
  if (out.length !== size) {
    fail('ERR_DECODE_BAD_COMPRESSED', `zlib data inflates to ${out.length} bytes, not ${size}`, p, 80);
  }
  const term = readTerm(out, 0, size, lim.lossless, cache, lim.maxElements);
  const inner = readEnd();
  if (inner !== size) fail('ERR_DECODE_TRAILING', `${size - inner} bytes after the term in the compressed data`, inner);
  spanEnd = p + 5 + used;
  return term;
}
