// JSON in and out of the gateway: 64-bit ids as decimal strings, the one
// error body shape, and the checks every field goes through.
import type { ChannelEvent, ChatMessage } from '../../thrift/gen/chat.js';

/** An error answer: `{"error": {"code", "message"}}` with `status`. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string | number> = {}) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'bad_request'): HttpError => new HttpError(400, code, message);

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^-?\d{1,19}$/;

/** A 64-bit id given as a decimal string (or a number that is a safe integer). */
export function parseId(v: unknown, field: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && DECIMAL.test(v)) {
    const n = BigInt(v);
    if (n >= I64_MIN && n <= I64_MAX) return n;
  }
  throw badRequest(`"${field}" must be a 64-bit integer as a decimal string`);
}

/** A request body parsed as a JSON object. */
export function parseBody(body: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('the body is not valid JSON', 'bad_json');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest('the body must be a JSON object', 'bad_json');
  return v as Record<string, unknown>;
}

/** The query string's parameters (the last value of each). */
export function parseQuery(q: string): Map<string, string> {
  const out = new Map<string, string>();
  if (q === '') return out;
  // Nothing to decode (a poll's `seq=...&epoch=...&pv=...`): the parts as they are.
  const plain = !q.includes('%') && !q.includes('+');
  for (const part of q.split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    if (plain) {
      out.set(k, v);
      continue;
    }
    try {
      out.set(decodeURIComponent(k.replace(/\+/g, ' ')), decodeURIComponent(v.replace(/\+/g, ' ')));
    } catch {
      throw badRequest('malformed query string');
    }
  }
  return out;
}

/** An integer query parameter in [min, max], or `dflt` when absent. */
export function intParam(q: Map<string, string>, name: string, min: number, max: number, dflt?: number): number | undefined {
  const v = q.get(name);
  if (v === undefined || v === '') return dflt;
  if (!/^-?\d{1,16}$/.test(v)) throw badRequest(`"${name}" must be an integer`);
  const n = Number(v);
  if (n < min || n > max) throw badRequest(`"${name}" must be between ${min} and ${max}`);
  return n;
}

/** A stored message as the page gets it. */
export interface MessageJson {
  id: string;
  from: string;
  to: string;
  text: string;
  sentAtMs: number;
  clientMsgId?: string;
}

export function messageJson(m: ChatMessage): MessageJson {
  const out: MessageJson = { id: m.id.toString(), from: m.fromId.toString(), to: m.toId.toString(), text: m.text, sentAtMs: Number(m.sentAtMs) };
  if (m.clientMsgId !== undefined && m.clientMsgId !== '') out.clientMsgId = m.clientMsgId;
  return out;
}

/** A channel event as the page gets it: a message or a typing notice, with its seq. */
export type EventJson =
  | { seq: string; type: 'message'; message: MessageJson }
  | { seq: string; type: 'typing'; typing: { from: string; to: string; active: boolean } };

export function eventJson(e: ChannelEvent): EventJson {
  if (e.message !== undefined) return { seq: e.seq.toString(), type: 'message', message: messageJson(e.message) };
  const t = e.typing!;
  return { seq: e.seq.toString(), type: 'typing', typing: { from: t.fromId.toString(), to: t.toId.toString(), active: t.active } };
}

// An event's JSON text, made once: a buffered event is answered to every tab
// that polls past it (and again to a page that re-polls from an older seq).
const EVENT_TEXT = new WeakMap<ChannelEvent, string>();

/** `JSON.stringify(eventJson(e))`, cached per event object. */
export function eventText(e: ChannelEvent): string {
  let t = EVENT_TEXT.get(e);
  if (t === undefined) {
    t = JSON.stringify(eventJson(e));
    EVENT_TEXT.set(e, t);
  }
  return t;
}
