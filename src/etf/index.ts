// `beambridge/etf`: the External Term Format layer. The term model, the codec
// with its extras (decodeWithLength, TermWriter, options), comparison, the text
// syntax, the `term` template and `match`, `explain`, and the lossless JSON
// form. Depends on nothing above it. (The MessagePack bridge is
// `beambridge/msgpack`, so that importing the codec never loads @msgpack/msgpack.)
export {
  atom,
  atomCount,
  tuple,
  Atom,
  Tuple,
  Float,
  Pid,
  Port,
  Reference,
  BitBinary,
  ImproperList,
  Fun,
  ExportFun,
  LocalExt,
  type Term,
} from './types.js';
export { DecodeError, EncodeError, type DecodeErrorCode } from './errors.js';
export { encode, type EncodeOptions } from './encode.js';
export { TermWriter } from './writer.js';
export { decode, decodeWithLength, DEFAULT_MAX_ELEMENTS, type DecodeOptions } from './decode.js';
export { termEquals, compareTerms, compareMapKeys } from './compare.js';
export { parseTerm, formatTerm, formatFloat, ParseError, type ParseOptions, type FormatOptions } from './text.js';
export { term, match, pattern, type Pattern, type Bindings, type PatternVariables } from './pattern.js';
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
