// The gateway's HTTP API (issue 11) as a simulated page speaks it: JSON in and
// out, 64-bit ids as decimal strings, a session cookie, errors as
// `{"error": {"code", "message"}}` with Retry-After on 429 and 503. One
// keep-alive client per worker (http1.ts) carries every user's requests: a
// held long-poll occupies a connection, and the connections it frees are
// reused by other users' calls, so a worker holds about one connection per
// user plus the calls in flight.
import { Http1Client } from './http1.js';

/** A failed request: an HTTP error status, or no answer at all (`status` 0). */
export interface ApiFailure {
  status: number;
  /** The error body's code, or the socket error's code (ECONNRESET, ECONNREFUSED, TIMEOUT, ...). */
  code: string;
  message: string;
  /** From Retry-After, when the gateway sent one. */
  retryAfterMs: number | undefined;
}

/** A request's outcome. */
export type ApiResult<T> = { ok: true; body: T } | { ok: false; error: ApiFailure };

/** A stored message as the API returns it (ids as decimal strings). */
export interface ApiMessage {
  id: string;
  from: string;
  to: string;
  text: string;
  sentAtMs: number;
  clientMsgId: string | undefined;
}

/** One event of a poll answer. */
export type ApiEvent = { seq: string; message: ApiMessage } | { seq: string; typing: { from: string; to: string; active: boolean } } | { seq: string };

/**
 * A poll answer. Beside `status`, `seq` and `events`, the gateway gives the
 * channel's `epoch` (a page whose epoch is older gets `refresh`), the presence
 * version `pv` with the friends whose presence changed since the page's
 * (`presence`), and `retryAfterMs` when it is going away.
 */
export interface ApiPoll {
  status: 'events' | 'continue' | 'refresh';
  seq: string;
  events: ApiEvent[];
  epoch: number | undefined;
  pv: number | undefined;
  presence: ApiPresence[];
  retryAfterMs: number;
}

/** One friend's presence. */
export interface ApiPresence {
  userId: string;
  state: 'online' | 'idle' | 'offline';
  idleSeconds: number;
}

/** The key errors are counted under in reports: `HTTP 503 ERR_CHAT_UNAVAILABLE`, `net ECONNREFUSED`. */
export function errorKey(e: ApiFailure): string {
  return e.status === 0 ? `net ${e.code}` : `HTTP ${e.status} ${e.code}`;
}

const idText = (x: unknown): string => (typeof x === 'string' ? x : typeof x === 'number' || typeof x === 'bigint' ? String(x) : '');

/** A message from the API's JSON (tolerates `from`/`fromId` spellings). */
export function toMessage(m: Record<string, unknown>): ApiMessage {
  return {
    id: idText(m.id),
    from: idText(m.from ?? m.fromId),
    to: idText(m.to ?? m.toId),
    text: typeof m.text === 'string' ? m.text : '',
    sentAtMs: Number(m.sentAtMs ?? m.sentAt ?? 0),
    clientMsgId: typeof m.clientMsgId === 'string' ? m.clientMsgId : undefined,
  };
}

/** A poll answer from the API's JSON; undefined when it is not one. */
export function toPoll(b: unknown): ApiPoll | undefined {
  if (typeof b !== 'object' || b === null) return undefined;
  const o = b as Record<string, unknown>;
  if (o.status !== 'events' && o.status !== 'continue' && o.status !== 'refresh') return undefined;
  const events: ApiEvent[] = [];
  for (const raw of Array.isArray(o.events) ? o.events : []) {
    const ev = raw as Record<string, unknown>;
    const seq = idText(ev.seq);
    if (typeof ev.message === 'object' && ev.message !== null) events.push({ seq, message: toMessage(ev.message as Record<string, unknown>) });
    else if (typeof ev.typing === 'object' && ev.typing !== null) {
      const t = ev.typing as Record<string, unknown>;
      events.push({ seq, typing: { from: idText(t.from ?? t.fromId), to: idText(t.to ?? t.toId), active: t.active === true } });
    } else events.push({ seq });
  }
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  return {
    status: o.status,
    seq: idText(o.seq),
    events,
    epoch: num(o.epoch),
    pv: num(o.pv),
    presence: Array.isArray(o.presence) ? (o.presence as ApiPresence[]) : [],
    retryAfterMs: num(o.retryAfterMs) ?? 0,
  };
}

/** Options of a {@link Gateway} request. */
export interface RequestOptions {
  cookie?: string;
  body?: unknown;
  timeoutMs: number;
  /** Called when the request has been written to a connected socket. */
  onSent?: () => void;
  /** Collects the session cookie a response sets. */
  onCookie?: (cookie: string) => void;
}

/** The gateway at one base URL, for the users of one worker. */
export class Gateway {
  private readonly http: Http1Client;
  private readonly prefix: string;

  constructor(base: string, maxSockets: number) {
    const u = new URL(base);
    if (u.protocol !== 'http:') throw new Error(`darklaunch speaks http:// to the gateway, not ${u.protocol}`);
    this.prefix = u.pathname.replace(/\/$/, '');
    // Keep-alive sized for long-polls: a connection per held poll plus calls in flight.
    this.http = new Http1Client(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80), Math.min(maxSockets, 4096));
  }

  /** One request; a reused keep-alive connection that turns out dead is retried once at once, as browsers do. */
  async call<T>(method: 'GET' | 'POST', path: string, o: RequestOptions): Promise<ApiResult<T>> {
    const headers = o.cookie ? `Cookie: ${o.cookie}\r\n` : '';
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    let r = await this.http.request(method, this.prefix + path, headers, body, o.timeoutMs, o.onSent);
    if (!r.ok && r.error.reused && r.error.code !== 'TIMEOUT') r = await this.http.request(method, this.prefix + path, headers, body, o.timeoutMs, o.onSent);
    if (!r.ok) return { ok: false, error: { status: 0, code: r.error.code, message: r.error.message, retryAfterMs: undefined } };
    if (r.res.cookie && o.onCookie) o.onCookie(r.res.cookie);
    return parseResponse<T>(r.res.status, r.res.retryAfter, r.res.body);
  }

  /** Closes every connection (at the end of the run). */
  close(): void {
    this.http.close();
  }
}

/** An answer as a result: a 2xx with a JSON body, or the error body's code and message with Retry-After. */
export function parseResponse<T>(status: number, retryAfter: string | undefined, text: string): ApiResult<T> {
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300 && body !== undefined) return { ok: true, body: body as T };
  const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const ra = retryAfter;
  const retryAfterMs = ra === undefined ? undefined : /^\d+(\.\d+)?$/.test(ra) ? Number(ra) * 1000 : Math.max(0, Date.parse(ra) - Date.now()) || undefined;
  return {
    ok: false,
    error: {
      status: status >= 200 && status < 300 ? 502 : status,
      code: typeof err?.code === 'string' ? err.code : body === undefined ? 'ERR_NOT_JSON' : `HTTP_${status}`,
      message: typeof err?.message === 'string' ? err.message : text.slice(0, 200),
      retryAfterMs,
    },
  };
}
