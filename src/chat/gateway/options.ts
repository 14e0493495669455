// The gateway's public types: its options, the running handle, and the
// `authenticate` hook (`serveGateway()` is in gateway.ts).
import type { BackoffOptions } from '../../backoff.js';
import type { Logger } from '../../node/diagnostics.js';
import type { ChatBackend, UserId } from '../types.js';
import type { RateLimit, RevocationStore } from './session.js';
/** What the `authenticate` hook sees of the login request. */
export interface GatewayRequest {
  method: string;
  path: string;
  /** Header fields, names in lower case. */
  headers: ReadonlyMap<string, string>;
  remoteAddress: string | undefined;
}

/**
 * Decides who signs in: given the login request and its parsed JSON body
 * (`{"userId": "42", ...}` from the page), resolves with the user id to sign
 * in as, or `null`/`undefined` to refuse (401). Whatever the hook checks
 * (a password, a token from another system), the id it returns is the only
 * user the session will ever act as.
 */
export type Authenticate = (req: GatewayRequest, body: Record<string, unknown>) => UserId | null | undefined | Promise<UserId | null | undefined>;

/** Options of {@link serveGateway}. Only `backend`, `secret` and `authenticate` are required. */
export interface GatewayOptions {
  /** The channel servers, over distribution (`ChatCluster`) or Thrift (`ChatChannelCluster`). */
  backend: ChatBackend;
  /** Port to listen on; default 0 (ephemeral, read `.url` or `.port`). */
  port?: number;
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** HMAC key of the session cookies (at least 16 bytes). Keep it across restarts and pages stay signed in. */
  secret: string | Buffer;
  /** Who may sign in as whom (see {@link Authenticate}). */
  authenticate: Authenticate;
  /** How long a browser poll is held before `continue`; default 25 000 ms. */
  pollTimeoutMs?: number;
  /** Fraction of `pollTimeoutMs` taken off at random per poll, so a crowd does not come back at once; default 0.2. */
  pollJitter?: number;
  /** Polls one user may hold at once (tabs); past it the oldest is answered `continue`. Default 4. */
  maxPollsPerUser?: number;
  /** How often the friends' presence of every signed-in user is read (one batched call); default 10 000 ms. */
  presenceIntervalMs?: number;
  /** Sends and typing notices per user: a token bucket; past it 429 with Retry-After. Default 5/s, burst 20. */
  rateLimit?: RateLimit;
  /** Sign-in attempts per remote address (a token bucket; 429 past it). Default 1/s, burst 10. */
  loginRateLimit?: RateLimit;
  /**
   * Every other call of a signed-in user (poll, session, presence, history,
   * logout), per user: a token bucket; 429 past it. A history read costs one
   * token per 100 messages asked. Default 20/s, burst 100.
   */
  apiRateLimit?: RateLimit;
  /** Largest `limit` of `GET /api/history` (400 past it); default 1000. */
  maxHistoryLimit?: number;
  /**
   * Keeps logouts across restarts: `save` is called on each logout, `load`
   * once at start. Without it a revocation lives in this process only (see
   * the README's "Sessions").
   */
  revocations?: RevocationStore;
  /** Where server errors (accept failures, a failing revocation store) are reported; default silent. */
  logger?: Logger;
  /** Serve `GET /metrics` (Prometheus text); default false. */
  metrics?: boolean;
  /** Mark the session cookie `Secure` (behind HTTPS); default false. */
  secureCookie?: boolean;
  /** Lifetime of a session, signed into its cookie (a session is refused after it); default 7 days. */
  sessionTtlMs?: number;
  /** Largest request body; default 64 KiB (413 past it). */
  maxBodyBytes?: number;
  /** Deadline of a request's head; default 10 000 ms. */
  headersTimeoutMs?: number;
  /** Deadline of a whole request (head and body); default 20 000 ms. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this; default 60 000 ms. */
  keepAliveTimeoutMs?: number;
  /** How long the gateway's own long-poll on a user's channel is held; default 20 000 ms. */
  upstreamPollMs?: number;
  /** A user none of whose tabs polled for this long is dropped from the gateway; default 60 000 ms. */
  idleStopMs?: number;
  /** Events kept per user for tabs that poll from an older seq; default 256. */
  bufferSize?: number;
  /**
   * Backoff of a user's upstream poll while the backend fails: the library's
   * backoff policy (`baseDelayMs` default 250, `maxDelayMs` default 10 000,
   * `jitter` default 0.5, or a `delay(attempt, userId)` function). The loop
   * never gives up while the user is signed in. Each retry answers at once;
   * a browser poll (at most once a second per user), a successful call of
   * the user, or another user's recovery makes it retry before the delay ends.
   */
  backoff?: Omit<BackoffOptions, 'maxRetries'>;
  /** @internal The HTTP layer: this package's server on `net` (default) or node:http (for bench/gateway.mjs's comparison). */
  httpServer?: 'beambridge' | 'node:http';
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port/`: the chat page. */
  readonly url: string;
  readonly port: number;
  /** Counters: held polls, signed-in users, connections, presence calls and ids asked. */
  stats(): GatewayStats;
  /** Answers held polls, stops every upstream loop, closes the listener and connections. Idempotent. */
  close(): Promise<void>;
}

export interface GatewayStats {
  heldPolls: number;
  users: number;
  connections: number;
  presenceCalls: number;
  presenceIds: number;
}
