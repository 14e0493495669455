import type { Term } from './types.js';
export function termEquals(_a: Term, _b: Term): boolean { throw new Error('not implemented'); }
export function compareTerms(_a: Term, _b: Term): number { throw new Error('not implemented'); }
