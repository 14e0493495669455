// Sessions and rate limits of the gateway.
//
// A session is a cookie the gateway signs with HMAC-SHA256 under its
// `secret`: `<userId>.<issuedAtMs>.<signature>`. Nothing is stored per
// session, so a gateway restarted with the same secret accepts the cookies
// it issued before (pages carry on without signing in again). Logout is
// remembered per user in memory: sessions of that user issued before it are
// refused by this process.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The name of the session cookie. */
export const SESSION_COOKIE = 'bb_session';

/** A verified session. */
export interface Session {
  userId: bigint;
  issuedAtMs: number;
}

const COOKIE_VALUE = /^(-?\d{1,20})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

export class SessionSigner {
  private readonly key: Buffer;
  /** user id (decimal) -> time of its last logout; sessions issued at or before it are refused. */
  private readonly loggedOut = new Map<string, number>();
  private lastIssued = 0;

  constructor(secret: string | Buffer, readonly ttlMs: number) {
    const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (key.length < 16) throw new TypeError('the gateway secret must be at least 16 bytes');
    this.key = Buffer.from(key);
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  /** A new session cookie value for `userId`. */
  issue(userId: bigint): string {
    // Strictly increasing, so a login right after a logout is newer than it.
    const now = Math.max(Date.now(), this.lastIssued + 1, (this.loggedOut.get(userId.toString()) ?? 0) + 1);
    this.lastIssued = now;
    const payload = `${userId}.${now}`;
    return `${payload}.${this.sign(payload)}`;
  }

  /** The session of a cookie value, or `undefined` when forged, expired, malformed or logged out. */
  verify(value: string | undefined): Session | undefined {
    if (value === undefined) return undefined;
    // A page sends the same cookie with every poll: its signature is checked once.
    let s = this.verified.get(value);
    if (s === undefined) {
      s = this.check(value);
      if (s === undefined) return undefined;
      if (this.verified.size >= 100_000) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(value, s);
    }
    if (s.issuedAtMs + this.ttlMs < Date.now()) return undefined;
    const out = this.loggedOut.get(s.userId.toString());
    if (out !== undefined && s.issuedAtMs <= out) return undefined;
    return s;
  }

  private readonly verified = new Map<string, Session>();

  private check(value: string): Session | undefined {
    const m = COOKIE_VALUE.exec(value);
    if (m === null) return undefined;
    const expected = Buffer.from(this.sign(`${m[1]}.${m[2]}`));
    const given = Buffer.from(m[3]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return { userId: BigInt(m[1]), issuedAtMs: Number(m[2]) };
  }

  /** Refuses every session of `userId` issued until now. */
  logout(userId: bigint): void {
    const now = Math.max(Date.now(), this.lastIssued);
    this.loggedOut.delete(userId.toString());
    this.loggedOut.set(userId.toString(), now);
    // Bounded: the oldest entries go first (their sessions expire anyway after ttlMs).
    if (this.loggedOut.size > 100_000) {
      const first = this.loggedOut.keys().next().value as string;
      this.loggedOut.delete(first);
    }
  }

  /** The Set-Cookie value that stores `value`. */
  setCookie(value: string, secure: boolean): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.ttlMs / 1000)}${secure ? '; Secure' : ''}`;
  }

  /** The Set-Cookie value that removes the session cookie. */
  clearCookie(secure: boolean): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
  }
}

/** The value of cookie `name` in a Cookie header, if present. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Options of a token bucket: `ratePerSec` tokens come back each second, up to `burst`. */
export interface RateLimit {
  ratePerSec: number;
  burst: number;
}

/** A token bucket (one per user). */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly limit: RateLimit, now = Date.now()) {
    this.tokens = limit.burst;
    this.at = now;
  }

  /** Takes one token: 0 when it was there, else how many ms until one is. */
  take(now = Date.now()): number {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.ratePerSec);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.limit.ratePerSec) * 1000);
  }
}
