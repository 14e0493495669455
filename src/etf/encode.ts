import type { Term } from './types.js';
export interface EncodeOptions { compressed?: boolean | number }
export function encode(_term: Term, _opts?: EncodeOptions): Buffer { throw new Error('not implemented'); }
