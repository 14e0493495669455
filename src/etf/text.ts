/**
 * Erlang term syntax: {@link parseTerm} reads it (text-parse.ts), {@link formatTerm}
 * writes it (text-format.ts). This module re-exports both halves.
 *
 *     {ok, [1, 2.5, <<"hi">>], #{a => 'B c'}}
 */
export { ParseError, parseTerm, type ParseOptions } from './text-parse.js';
export { formatTerm, formatFloat, type FormatOptions } from './text-format.js';
