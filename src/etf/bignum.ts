/**
 * Integers wider than 32 bits (erl_ext_dist "SMALL_BIG_EXT" / "LARGE_BIG_EXT"):
 * a sign byte and the magnitude as little-endian base-256 digits.
 */
import { Buffer } from 'node:buffer';

const TWO32 = 4294967296;

/** The magnitude of a non-negative bigint as little-endian bytes. */
export function bigintMagnitude(m: bigint): Buffer {
  let hex = m.toString(16);
  if (hex.length & 1) hex = '0' + hex;
  return Buffer.from(hex, 'hex').reverse();
}

/**
 * Reads `n` little-endian magnitude bytes at `b[s]` with the given sign and
 * returns a `number` when the value is a safe integer, a `bigint` otherwise.
 * Never returns -0.
 */
export function readBig(b: Uint8Array, s: number, n: number, negative: boolean): number | bigint {
  // Skip high zero digits (OTP accepts non-normalized bignums).
  while (n > 0 && b[s + n - 1] === 0) n--;
  if (n <= 6) {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[s + i];
    return negative && v !== 0 ? -v : v;
  }
  if (n <= 8) {
    const lo = (b[s] | (b[s + 1] << 8) | (b[s + 2] << 16) | (b[s + 3] << 24)) >>> 0;
    let hi = 0;
    for (let i = n - 1; i >= 4; i--) hi = hi * 256 + b[s + i];
    if (hi < 0x200000) {
      const v = hi * TWO32 + lo;
      return negative ? -v : v;
    }
    const big = (BigInt(hi) << 32n) | BigInt(lo);
    return negative ? -big : big;
  }
  const hex = Buffer.from(b.subarray(s, s + n)).reverse().toString('hex');
  const big = BigInt('0x' + hex);
  return negative ? -big : big;
}
