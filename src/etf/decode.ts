import type { Atom, Term } from './types.js';
export interface DecodeOptions { lossless?: boolean; atomCache?: readonly (Atom | undefined)[]; maxInflatedSize?: number; offset?: number }
export function decode(_bytes: Uint8Array, _opts?: DecodeOptions): Term { throw new Error('not implemented'); }
export function decodeWithLength(_bytes: Uint8Array, _opts?: DecodeOptions): { term: Term; length: number } { throw new Error('not implemented'); }
