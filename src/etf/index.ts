// The External Term Format layer: term model, codec, comparison, text syntax,
// the MessagePack bridge and the lossless JSON form. Depends on nothing above it.
export * from './types.js';
export * from './errors.js';
export { encode, type EncodeOptions } from './encode.js';
export { TermWriter } from './writer.js';
export { decode, decodeWithLength, type DecodeOptions } from './decode.js';
export { termEquals, compareTerms, compareMapKeys } from './compare.js';
export { parseTerm, formatTerm, formatFloat, ParseError, type ParseOptions, type FormatOptions } from './text.js';
export { toMsgpack, fromMsgpack, erlangExtensionCodec } from './msgpack.js';
export { termToJson, jsonToTerm, JsonTermError } from './json.js';
export {
  explain,
  ETF_TAG_NAMES,
  HEX_PREVIEW_BYTES,
  type Explanation,
  type ExplainNode,
  type ExplainField,
  type ExplainError,
  type ExplainOptions,
} from './explain.js';
