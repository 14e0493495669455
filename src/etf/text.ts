import { BeamBridgeError } from '../errors.js';
import type { Term } from './types.js';
export class ParseError extends BeamBridgeError {}
export function parseTerm(_text: string): Term { throw new Error('not implemented'); }
export function formatTerm(_term: Term): string { throw new Error('not implemented'); }
