import type { Term } from './types.js';
export function toMsgpack(_term: Term): Uint8Array { throw new Error('not implemented'); }
export function fromMsgpack(_bytes: Uint8Array): Term { throw new Error('not implemented'); }
