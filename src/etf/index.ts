// The External Term Format layer: term model, codec, comparison, text syntax
// and the MessagePack bridge. Depends on nothing above it.
export * from './types.js';
export * from './errors.js';
export { encode, type EncodeOptions } from './encode.js';
export { TermWriter } from './writer.js';
export { decode, decodeWithLength, type DecodeOptions } from './decode.js';
export { termEquals, compareTerms } from './compare.js';
export { parseTerm, formatTerm, ParseError } from './text.js';
export { toMsgpack, fromMsgpack } from './msgpack.js';
