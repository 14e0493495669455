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
  /** Where the term starts in `bytes` (default 0). */
  offset?: number;
  /** Expect the version byte 131 first (default true). */
  version?: boolean;
}

const DEFAULT_MAX_INFLATED = 64 * 1024 * 1024;

/**
 * Decodes one term that must fill `bytes` from `opts.offset` to the end;
 * trailing bytes raise `ERR_DECODE_TRAILING`.
 */
export function decode(bytes: Uint8Array, opts?: DecodeOptions): Term {
  const b = asBuffer(bytes);
  const r = decodeTop(b, opts);
  if (r.end !== b.length) fail('ERR_DECODE_TRAILING', `${b.length - r.end} bytes after the term`, r.end);
  return r.term;
}

/**
 * Decodes one term starting at `opts.offset` and reports how many bytes it
 * used (version byte included); bytes after it are left alone.
 */
export function decodeWithLength(bytes: Uint8Array, opts?: DecodeOptions): { term: Term; length: number } {
  const b = asBuffer(bytes);
  const r = decodeTop(b, opts);
  return { term: r.term, length: r.end - r.start };
}

function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError('decode: bytes must be a Uint8Array');
}

function decodeTop(b: Buffer, opts: DecodeOptions | undefined): { term: Term; start: number; end: number } {
  let start = 0;
  let version = true;
  let maxInflated = DEFAULT_MAX_INFLATED;
  let lossless = false;
  let cache: DecodeOptions['atomCache'];
  if (opts !== undefined) {
    lossless = opts.lossless === true;
    cache = opts.atomCache;
    version = opts.version !== false;
    if (opts.maxInflatedSize !== undefined) {
      maxInflated = opts.maxInflatedSize;
      if (!(maxInflated >= 0)) throw new RangeError(`decode: maxInflatedSize must be >= 0, got ${maxInflated}`);
    }
    if (opts.offset !== undefined) {
      start = opts.offset;
      if (!(Number.isInteger(start) && start >= 0 && start <= b.length)) {
        throw new RangeError(`decode: offset ${start} is outside the input (length ${b.length})`);
      }
    }
  }
  const end = b.length;
  let p = start;
  if (version) {
    if (p >= end) truncated(p);
    if (b[p] !== 131) fail('ERR_DECODE_BAD_VERSION', `version byte is ${b[p]}, not 131`, p);
    p++;
  }
  if (p < end && b[p] === 80) {
    // Compressed term: 80, UncompressedSize:32, zlib data (erl_ext_dist "Introduction").
    if (p + 5 > end) truncated(p, 80);
    const size = b.readUInt32BE(p + 1);
    if (size > maxInflated) {
      fail('ERR_DECODE_INFLATE_LIMIT', `compressed term declares ${size} bytes, over the limit of ${maxInflated}`, p, 80);
    }
    if (size === 0) fail('ERR_DECODE_BAD_COMPRESSED', 'compressed term declares 0 bytes', p, 80);
    let out: Buffer;
    let used: number;
    try {
      const r = inflateSync(b.subarray(p + 5), { maxOutputLength: size, info: true }) as unknown as {
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
    const term = readTerm(out, 0, size, lossless, cache);
    const inner = readEnd();
    if (inner !== size) fail('ERR_DECODE_TRAILING', `${size - inner} bytes after the term in the compressed data`, inner);
    return { term, start, end: p + 5 + used };
  }
  const term = readTerm(b, p, end, lossless, cache);
  return { term, start, end: readEnd() };
}

