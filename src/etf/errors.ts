import { BeamBridgeError } from '../errors.js';

/**
 * Stable codes carried by {@link DecodeError}. One per way a byte string can
 * fail to be a valid external term (erl_ext_dist).
 */
export type DecodeErrorCode =
  | 'ERR_DECODE_TRUNCATED' // a read past the end of the input
  | 'ERR_DECODE_BAD_VERSION' // first byte is not 131
  | 'ERR_DECODE_UNKNOWN_TAG' // a tag byte erl_ext_dist does not define
  | 'ERR_DECODE_BAD_LENGTH' // a length field that cannot be right (e.g. larger than the input)
  | 'ERR_DECODE_BAD_ATOM' // invalid UTF-8 (or Latin-1 atom with wrong encoding)
  | 'ERR_DECODE_ATOM_TOO_LONG' // more than 255 characters
  | 'ERR_DECODE_BAD_FLOAT' // NaN, +/-Infinity, or an unparsable old FLOAT_EXT string
  | 'ERR_DECODE_DUPLICATE_KEY' // a map with two =:= keys
  | 'ERR_DECODE_BAD_BITS' // BIT_BINARY_EXT bit count outside 1..8 (or empty data with bits)
  | 'ERR_DECODE_BIG_TOO_LARGE' // a bignum over OTP's limit
  | 'ERR_DECODE_TRAILING' // bytes left after the term
  | 'ERR_DECODE_INFLATE_LIMIT' // a compressed term inflates past the cap
  | 'ERR_DECODE_BAD_COMPRESSED' // zlib data that does not inflate to the declared size
  | 'ERR_DECODE_ATOM_CACHE' // ATOM_CACHE_REF with no cache or an empty slot
  | 'ERR_DECODE_TOO_MANY_ELEMENTS' // more elements than the decoded-element limit (maxElements)
  | 'ERR_DECODE_BAD_TERM'; // structurally wrong (e.g. a fun whose pid is not a pid)

/** Thrown by `decode` for every malformed input; never any other exception. */
export class DecodeError extends BeamBridgeError {
  declare readonly code: DecodeErrorCode;
  /** The tag byte being decoded when the error was found, if any. */
  readonly tag: number | undefined;
  /** Byte offset in the input (of the compressed payload when inside tag 80). */
  readonly offset: number;

  constructor(code: DecodeErrorCode, message: string, offset: number, tag?: number) {
    super(code, `${message} at offset ${offset}${tag === undefined ? '' : ` (tag ${tag})`}`);
    this.offset = offset;
    this.tag = tag;
  }
}

/** Thrown by `encode` for a JS value that has no Erlang term. */
export class EncodeError extends BeamBridgeError {
  constructor(message: string) {
    super('ERR_ENCODE', message);
  }
}
