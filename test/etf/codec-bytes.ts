// Byte helpers of the hand-checked codec tests (codec-encode, codec-decode):
// bytes are written out as numbers, as `erl -noshell -eval
// 'io:format("~w",[term_to_binary(T)])'` prints them.
import { atom, encode, type Term } from '../../src/etf/index.js';

export const bytes = (...b: number[]) => Buffer.from(b);
/** A term's bytes after the version byte 131. */
export const ext = (...b: number[]) => Buffer.from([131, ...b]);
export const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
export const utf8 = (s: string) => [...Buffer.from(s, 'utf8')];
/** SMALL_ATOM_UTF8_EXT of `s`. */
export const sa = (s: string) => [119, Buffer.byteLength(s), ...utf8(s)];
export const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

export function enc(v: Term): number[] {
  return [...encode(v)];
}

/** The node of the pid, port and reference vectors, and its atom's bytes. */
export const NODE = atom('n@h');
export const NODE_BYTES = sa('n@h');
