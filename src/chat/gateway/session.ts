// Sessions and rate limits of the gateway.
//
// A session is a cookie the gateway signs with HMAC-SHA256 under its
// `secret`: `<userId>.<issuedAtMs>.<expiresAtMs>.<signature>`. Nothing is
// stored per session, so a gateway restarted with the same secret accepts the
// cookies it issued before, until they expire (pages carry on without signing
// in again). Logout is a revocation: that user's sessions issued before it
// are refused, and the revocation is kept until the last of them has expired
// (issue time + TTL). Revocations live in this process's memory; a
// `RevocationStore` given to the gateway saves them and loads them back at
// start, so they survive a restart too.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The name of the session cookie. */
export const SESSION_COOKIE = 'bb_session';

/** A verified session. */
export interface Session {
  userId: bigint;
  /** `userId` in decimal (the key of per-user state). */
  userKey: string;
  issuedAtMs: number;
  /** The session is refused from this time on (issue time + the gateway's `sessionTtlMs`, signed in the cookie). */
  expiresAtMs: number;
}

/** A logout: sessions of `userId` issued at or before `revokedAtMs` are refused; nothing of it matters after `untilMs`. */
export interface Revocation {
  /** The user id, decimal. */
  userId: string;
  revokedAtMs: number;
  /** When the last session it refuses expires (revokedAtMs + the session TTL); forget it after. */
  untilMs: number;
}

/**
 * Where an application keeps logouts so they survive a gateway restart (a
 * database table, Redis with `untilMs` as the expiry, a file). `load` is
 * called once when the gateway starts (entries past `untilMs` are ignored);
 * `save` on every logout. A failing `save` is logged and the logout still
 * holds in this process.
 */
export interface RevocationStore {
  load(): Iterable<Revocation> | Promise<Iterable<Revocation>>;
  save(r: Revocation): void | Promise<void>;
}

const COOKIE_VALUE = /^(-?\d{1,20})\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

export class SessionSigner {
  private readonly key: Buffer;
  /** user id (decimal) -> its revocation; sessions issued at or before `revokedAtMs` are refused. */
  private readonly loggedOut = new Map<string, Revocation>();
  private lastIssued = 0;
  private nextPrune = 0;

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
    const now = Math.max(Date.now(), this.lastIssued + 1, (this.loggedOut.get(userId.toString())?.revokedAtMs ?? 0) + 1);
    this.lastIssued = now;
    const payload = `${userId}.${now}.${now + this.ttlMs}`;
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
    if (s.expiresAtMs <= Date.now()) return undefined;
    const out = this.loggedOut.size === 0 ? undefined : this.loggedOut.get(s.userKey);
    if (out !== undefined && s.issuedAtMs <= out.revokedAtMs) return undefined;
    return s;
  }

  private readonly verified = new Map<string, Session>();

  private check(value: string): Session | undefined {
    const m = COOKIE_VALUE.exec(value);
    if (m === null) return undefined;
    const expected = Buffer.from(this.sign(`${m[1]}.${m[2]}.${m[3]}`));
    const given = Buffer.from(m[4]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const userId = BigInt(m[1]);
    const s = { userId, userKey: userId.toString(), issuedAtMs: Number(m[2]), expiresAtMs: Number(m[3]) };
    // A cookie that lives longer than this gateway's TTL (signed when the TTL was longer, or by
    // a gateway with a longer one) is refused: a revocation is only kept for one TTL.
    if (s.expiresAtMs - s.issuedAtMs > this.ttlMs) return undefined;
    return s;
  }

  /** Refuses every session of `userId` issued until now; returns the revocation (for a store). */
  logout(userId: bigint): Revocation {
    const now = Math.max(Date.now(), this.lastIssued);
    const r: Revocation = { userId: userId.toString(), revokedAtMs: now, untilMs: now + this.ttlMs };
    this.revoke(r);
    return r;
  }

  /** Adds a revocation (from {@link logout} or a store); one past its `untilMs` is ignored. */
  revoke(r: Revocation): void {
    const now = Date.now();
    // Kept at least one of this gateway's TTLs: every cookie it accepts that was issued by then has expired.
    if (r.untilMs < r.revokedAtMs + this.ttlMs) r = { ...r, untilMs: r.revokedAtMs + this.ttlMs };
    if (r.untilMs <= now) return;
    const prev = this.loggedOut.get(r.userId);
    if (prev !== undefined && prev.revokedAtMs >= r.revokedAtMs) return;
    this.loggedOut.delete(r.userId);
    this.loggedOut.set(r.userId, r);
    if (now >= this.nextPrune) {
      this.nextPrune = now + 60_000;
      for (const [k, v] of this.loggedOut) if (v.untilMs <= now) this.loggedOut.delete(k);
    }
  }

  /** Revocations held now (users whose earlier sessions are refused). */
  get revocations(): number {
    return this.loggedOut.size;
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
  // The usual case, one cookie: `name=value`.
  if (header.startsWith(name) && header.charCodeAt(name.length) === 61 && !header.includes(';')) return header.slice(name.length + 1).trim();
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

  /** Takes `cost` tokens (default one): 0 when they were there, else how many ms until they are. */
  take(now = Date.now(), cost = 1): number {
    this.refill(now);
    const need = Math.min(cost, this.limit.burst);
    if (this.tokens >= need) {
      this.tokens -= need;
      return 0;
    }
    return Math.ceil(((need - this.tokens) / this.limit.ratePerSec) * 1000);
  }

  /** Whether the bucket is full (its key can be forgotten: a new bucket is the same). */
  full(now = Date.now()): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.ratePerSec);
    this.at = now;
  }
}

/** Token buckets by key (a remote address, a user id); full buckets are forgotten, so memory follows the active keys. */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private nextPrune = 0;

  constructor(readonly limit: RateLimit) {}

  /** Takes `cost` tokens of `key`'s bucket: 0 when allowed, else ms until it would be. */
  take(key: string, cost = 1): number {
    const now = Date.now();
    let b = this.buckets.get(key);
    if (b === undefined) this.buckets.set(key, (b = new TokenBucket(this.limit, now)));
    const wait = b.take(now, cost);
    if (now >= this.nextPrune) {
      this.nextPrune = now + 10_000;
      for (const [k, v] of this.buckets) if (v.full(now)) this.buckets.delete(k);
    }
    return wait;
  }

  /** Keys with a bucket now. */
  get size(): number {
    return this.buckets.size;
  }
}
