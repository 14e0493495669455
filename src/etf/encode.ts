/**
 * `encode()`: a JS value to External Term Format bytes (erl_ext_dist).
 *
 * | JavaScript                                   | Erlang term (tag)                                   |
 * |----------------------------------------------|-----------------------------------------------------|
 * | integral `number` (`-0` too)                 | SMALL_INTEGER / INTEGER / SMALL_BIG (as an integer) |
 * | other finite `number`, {@link Float}         | NEW_FLOAT                                           |
 * | `NaN`, `Infinity`                            | EncodeError                                         |
 * | `bigint`                                     | smallest integer tag; LARGE_BIG over 255 bytes      |
 * | `string`                                     | BINARY (UTF-8)                                      |
 * | `true` / `false`                             | the atoms `true` / `false`                          |
 * | `null`, `undefined`                          | the atom `undefined`                                |
 * | {@link Atom}                                 | SMALL_ATOM_UTF8 / ATOM_UTF8                         |
 * | {@link Tuple}                                | SMALL_TUPLE / LARGE_TUPLE                           |
 * | `[]`                                         | NIL                                                 |
 * | array of integers 0..255, length <= 65535    | STRING (as term_to_binary does)                     |
 * | other array                                  | LIST ending in NIL                                  |
 * | {@link ImproperList}                         | LIST with the tail                                  |
 * | `Map`                                        | MAP                                                 |
 * | plain object (prototype `Object` or `null`)  | MAP with UTF-8 binary keys                          |
 * | `Buffer` / `Uint8Array`                      | BINARY                                              |
 * | {@link BitBinary}                            | BIT_BINARY (BINARY when bits is 8 or data empty)    |
 * | {@link Pid} / {@link Port} / {@link Reference} | NEW_PID / NEW_PORT (V4_PORT over 32 bits) / NEWER_REFERENCE |
 * | {@link Fun} / {@link ExportFun}              | NEW_FUN / EXPORT                                    |
 * | {@link LocalExt}                             | its bytes, unchanged                                |
 *
 * Anything else (functions, symbols, class instances that are not terms,
 * cyclic structures) raises {@link EncodeError}.
 */
import { Buffer } from 'node:buffer';
import { deflateSync } from 'node:zlib';
import { EncodeError } from './errors.js';
import type { Term } from './types.js';
import { TermWriter } from './writer.js';

/** Options for {@link encode}. */
export interface EncodeOptions {
  /**
   * Compress with zlib: `true` (level 6, like `term_to_binary(T, [compressed])`)
   * or a level 0-9. The result is `131, 80, UncompressedSize:32, ZlibData`
   * (erl_ext_dist "Introduction", compressed term format) only when that is
   * smaller than the plain encoding; otherwise the plain encoding is returned,
   * as term_to_binary does.
   */
  compressed?: boolean | number;
  /**
   * Start with the version byte 131 (default true). `false` omits it, for
   * callers that frame terms themselves (terms after a distribution header).
   */
  version?: boolean;
}

const shared = new TermWriter();
let busy = false;

/**
 * Encodes `term` in the External Term Format. The result is a `Buffer` that
 * may share its underlying memory with other results (see {@link TermWriter}).
 * Throws {@link EncodeError} for a value with no Erlang term.
 */
export function encode(term: Term, opts?: EncodeOptions): Buffer {
  if (opts === undefined && !busy) {
    busy = true;
    try {
      return shared.writeVersion().writeTerm(term).finish();
    } finally {
      busy = false;
    }
  }
  let version = true;
  let level = -1;
  if (opts !== undefined) {
    version = opts.version !== false;
    const c = opts.compressed;
    if (c === true) level = 6;
    else if (typeof c === 'number') {
      if (!(Number.isInteger(c) && c >= 0 && c <= 9)) throw new EncodeError(`compression level must be 0-9, got ${c}`);
      level = c;
    } else if (c !== undefined && c !== false) {
      throw new EncodeError('compressed must be a boolean or a level 0-9');
    }
  }
  // A writer in use (a getter that encodes while we encode) gets a fresh one.
  const w = busy ? new TermWriter(4096) : shared;
  const outer = busy;
  busy = true;
  let out: Buffer;
  try {
    if (version) w.writeVersion();
    out = w.writeTerm(term).finish();
  } finally {
    busy = outer;
  }
  return level < 0 ? out : compress(out, version, level);
}

/** Wraps a plain encoding in the compressed format when that is smaller. */
function compress(plain: Buffer, version: boolean, level: number): Buffer {
  const body = version ? plain.subarray(1) : plain;
  const z = deflateSync(body, { level });
  const head = version ? 6 : 5;
  if (head + z.length >= plain.length) return plain;
  const out = Buffer.allocUnsafe(head + z.length);
  let p = 0;
  if (version) out[p++] = 131;
  out[p++] = 80;
  out.writeUInt32BE(body.length, p);
  z.copy(out, p + 4);
  return out;
}
