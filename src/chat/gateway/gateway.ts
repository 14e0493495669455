// The long-poll HTTP gateway over any `ChatBackend`: `serveGateway()`.
//
// Browsers (the chat page, or any HTTP client) sign in, long-poll their
// channel, send, type, read presence and history through a JSON API; the
// gateway acts for the session's user only. Per signed-in user it keeps ONE
// upstream long-poll (channel.ts), and presence for everybody is one batched
// backend call per interval (presence.ts). HTTP is served by the small
// server in http.ts.
import { ChatBadRequestError, ChatError, ChatNotOnlineError } from '../errors.js';
import { toUserId } from '../slot.js';
import type { ChatBackend } from '../types.js';
import type { Authenticate, Gateway, GatewayOptions, GatewayStats } from './options.js';
import type { ChannelEvent } from '../../thrift/gen/chat.js';
import { backoffPolicy, type BackoffPolicy } from '../../backoff.js';
import { UserChannel, type ChannelHost, type HeldPoll, type PollStatusName } from './channel.js';
import { HttpServer, type HttpRequest, type HttpResponse } from './http.js';
import { HttpError, badRequest, eventText, intParam, messageJson, parseBody, parseId, parseQuery } from './json.js';
import { GatewayMetrics } from './metrics.js';
import { NodeHttpServer } from './nodehttp.js';
import { loadPage, type PageFile } from './page.js';
import { PresenceHub } from './presence.js';
import { WWW_AUTHENTICATE, checkJsonBody, checkSameOrigin } from './guards.js';
import { RateLimiter, SESSION_COOKIE, SessionSigner, TokenBucket, readCookie } from './session.js';
import { silentLogger, type Logger } from '../../node/diagnostics.js';

/** How long after a send through this gateway a user's upstream poll may stay silent before it is made again. */
const NUDGE_MS = 2000;

const JSON_HEADERS = Object.freeze({ 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });

const ROUTES: Record<string, string> = {
  '/api/login': 'POST',
  '/api/session': 'GET',
  '/api/poll': 'GET',
  '/api/send': 'POST',
  '/api/typing': 'POST',
  '/api/presence': 'GET',
  '/api/history': 'GET',
  '/api/logout': 'POST',
  '/metrics': 'GET',
};

/** The HTTP status and error code of a backend failure. */
function chatErrorAnswer(e: ChatError): HttpError {
  switch (e.code) {
    case 'ERR_CHAT_NOT_ONLINE':
      return new HttpError(409, 'not_online', `user ${(e as ChatNotOnlineError).userId} is not online`);
    case 'ERR_CHAT_BAD_REQUEST':
      return new HttpError(400, 'bad_request', `refused: ${(e as ChatBadRequestError).reason}`);
    case 'ERR_CHAT_TIMEOUT':
      return new HttpError(504, 'timeout', 'the chat servers did not answer in time', { 'Retry-After': 2 });
    case 'ERR_CHAT_INTERNAL':
      return new HttpError(502, 'internal', 'the chat servers failed');
    default: // unavailable, closed, aborted
      return new HttpError(503, 'unavailable', 'the chat servers are unavailable; retry later', { 'Retry-After': 2 });
  }
}

class GatewayImpl implements ChannelHost, Gateway {
  readonly backend: ChatBackend;
  readonly upstreamPollMs: number;
  readonly maxPollsPerUser: number;
  readonly bufferSize: number;
  readonly idleStopMs: number;
  readonly backoff: BackoffPolicy;
  readonly epochBase = Date.now();
  private epochCounter = this.epochBase;
  private readonly users = new Map<string, UserChannel>();
  private readonly heldPolls = new Set<HeldPoll>();
  private readonly sessions: SessionSigner;
  private readonly hub: PresenceHub;
  private readonly metrics: GatewayMetrics | undefined;
  private readonly page: Map<string, PageFile>;
  private readonly http: HttpServer | NodeHttpServer;
  private readonly sweep: NodeJS.Timeout;
  private readonly logins: RateLimiter;
  private readonly calls: RateLimiter;
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;
  private shuttingDown = false;
  url = '';
  port = 0;

  constructor(private readonly o: GatewayOptions) {
    if (o.backend === undefined) throw new TypeError('serveGateway: `backend` is required');
    if (typeof o.authenticate !== 'function') throw new TypeError('serveGateway: `authenticate` is required (a hook that says who signs in)');
    this.backend = o.backend;
    this.upstreamPollMs = o.upstreamPollMs ?? 20_000;
    this.maxPollsPerUser = Math.max(1, o.maxPollsPerUser ?? 4);
    this.bufferSize = Math.max(1, o.bufferSize ?? 256);
    this.idleStopMs = o.idleStopMs ?? 60_000;
    this.backoff = backoffPolicy({ maxDelayMs: 10_000, ...o.backoff }, { baseDelayMs: 250, maxRetries: Infinity });
    this.sessions = new SessionSigner(o.secret, o.sessionTtlMs ?? 7 * 24 * 3600_000);
    this.metrics = o.metrics ? new GatewayMetrics(() => this.gauges()) : undefined;
    this.hub = new PresenceHub(this.backend, {
      intervalMs: o.presenceIntervalMs ?? 10_000,
      timed: (m, f) => this.timed(m, f),
      count: (ids, changes) => {
        this.metrics?.presenceCalls.inc([]);
        this.metrics?.presenceIds.inc([], ids);
        if (changes > 0) this.metrics?.presencePushes.inc([], changes);
      },
    });
    this.page = loadPage();
    this.logger = o.logger ?? silentLogger;
    this.logins = new RateLimiter(o.loginRateLimit ?? { ratePerSec: 1, burst: 10 });
    this.calls = new RateLimiter(o.apiRateLimit ?? { ratePerSec: 20, burst: 100 });
    const Server = o.httpServer === 'node:http' ? NodeHttpServer : HttpServer;
    this.http = new Server((req, res) => this.handle(req, res), {
      maxBodyBytes: o.maxBodyBytes ?? 65_536,
      headersTimeoutMs: o.headersTimeoutMs,
      requestTimeoutMs: o.requestTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      // A backstop only: polls are answered at pollTimeoutMs, backend calls have their own deadlines.
      handlerTimeoutMs: Math.max(300_000, 2 * (o.pollTimeoutMs ?? 25_000)),
      onRefused: (status, code) => {
        this.metrics?.requests.inc(['http', String(status)]);
        this.metrics?.errors.inc([code]);
      },
      onError: (e) => {
        this.metrics?.errors.inc(['server_error']);
        this.logger.error('gateway: server error (still serving)', { code: (e as NodeJS.ErrnoException).code, message: e.message });
      },
    });
    this.sweep = setInterval(() => this.expirePolls(), 250);
    this.sweep.unref();
  }

  async listen(): Promise<void> {
    if (this.o.revocations !== undefined) for (const r of await this.o.revocations.load()) this.sessions.revoke(r);
    const host = this.o.host ?? '127.0.0.1';
    await this.http.listen(this.o.port ?? 0, host);
    const addr = this.http.server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}/`;
    this.hub.start();
  }

  private gauges(): Record<string, [string, number]> {
    return {
      beambridge_gateway_held_polls: ['Browser polls held now.', this.heldPolls.size],
      beambridge_gateway_users: ['Signed-in users with an upstream poll loop.', this.users.size],
      beambridge_gateway_connections: ['Open HTTP connections.', this.http.connections],
      beambridge_gateway_presence_watched_ids: ['Friend ids whose presence is read each interval.', this.hub.entries.size],
    };
  }

  stats(): GatewayStats {
    return { heldPolls: this.heldPolls.size, users: this.users.size, connections: this.http.connections, presenceCalls: this.hub.calls, presenceIds: this.hub.ids };
  }

  // ------------------------------------------------------------ ChannelHost

  nextEpoch(): number {
    return ++this.epochCounter;
  }

  async timed<T>(method: string, f: () => Promise<T>): Promise<T> {
    const m = this.metrics;
    if (m === undefined) return f();
    const t0 = performance.now();
    try {
      return await f();
    } catch (e) {
      m.errors.inc([e instanceof ChatError ? e.code : 'ERR_UNKNOWN']);
      throw e;
    } finally {
      m.backend.observe(method, (performance.now() - t0) / 1000);
    }
  }

  answer(p: HeldPoll, status: PollStatusName, seq: bigint, events: readonly ChannelEvent[]): void {
    this.heldPolls.delete(p);
    const u = p.user;
    // The hot path: the answer's JSON is put together as text, each event's text made once (json.ts).
    let out = `{"status":"${status}","seq":"${seq}","epoch":${u.epoch},"events":[`;
    for (let i = 0; i < events.length; i++) out += i === 0 ? eventText(events[i]) : `,${eventText(events[i])}`;
    out += ']';
    // Closing: tell the page when to come back (spread over 1-3 s), so a restart is not met by a crowd at a closed port.
    if (this.shuttingDown) out += `,"retryAfterMs":${1000 + Math.floor(Math.random() * 2000)}`;
    if (p.pv !== undefined) {
      out += `,"pv":${u.pv}`;
      const changed = this.hub.viewText(u.friends, p.pv);
      if (changed !== '') out += `,"presence":${changed}`;
    }
    this.replyText(p.res, '/api/poll', 200, `${out}}`);
  }

  answerError(p: HeldPoll, e: unknown): void {
    this.heldPolls.delete(p);
    this.fail(p.res, '/api/poll', e);
  }

  held(p: HeldPoll, on: boolean): void {
    if (on) this.heldPolls.add(p);
    else this.heldPolls.delete(p);
  }

  dropped(u: UserChannel): void {
    if (this.users.get(u.key) === u) this.users.delete(u.key);
    this.hub.leave(u, u.friends);
  }

  private lastRecovery = 0;

  /**
   * A user's loop answered again after failing: the other failing loops
   * retry now instead of at the end of their backoff, spread over up to a
   * second (one per ms) so a crowd of users does not come back at once. At
   * most once a second (in a partial outage the others may still fail).
   */
  recovered(from: UserChannel): void {
    const now = Date.now();
    if (now - this.lastRecovery < 1000) return;
    this.lastRecovery = now;
    const failing: UserChannel[] = [];
    for (const u of this.users.values()) if (u !== from && u.failure !== undefined) failing.push(u);
    const spread = Math.min(1000, failing.length);
    for (const u of failing) u.retrySoon(Math.floor(Math.random() * spread));
  }

  private expirePolls(): void {
    const now = Date.now();
    for (const p of this.heldPolls) {
      if (p.deadline > now) continue;
      if (p.user.release(p)) this.answer(p, 'continue', p.user.seq < 0n ? p.after : p.user.seq, []);
      else this.heldPolls.delete(p);
    }
  }

  // ------------------------------------------------------------ HTTP

  private reply(res: HttpResponse, route: string, status: number, body: unknown, headers?: Record<string, string | number>): void {
    this.replyText(res, route, status, JSON.stringify(body), headers);
  }

  /** A JSON answer already in text; the shared header object when there are no others (http.ts renders it once). */
  private replyText(res: HttpResponse, route: string, status: number, json: string, headers?: Record<string, string | number>): void {
    if (res.done) return;
    res.send(status, headers === undefined || Object.keys(headers).length === 0 ? JSON_HEADERS : { ...JSON_HEADERS, ...headers }, json);
    this.metrics?.requests.inc([route, String(status)]);
  }

  private fail(res: HttpResponse, route: string, e: unknown): void {
    const h = e instanceof HttpError ? e : e instanceof ChatError ? chatErrorAnswer(e) : new HttpError(500, 'internal', 'internal error');
    this.metrics?.errors.inc([h.code]);
    this.reply(res, route, h.status, { error: { code: h.code, message: h.message } }, h.headers);
  }

  private handle(req: HttpRequest, res: HttpResponse): void {
    const route = ROUTES[req.path] !== undefined ? req.path : this.page.has(req.path) ? 'page' : 'other';
    // A poll answered from the buffer is answered here, synchronously: no promise on the hot path.
    try {
      this.route(req, res, route)?.catch((e) => this.fail(res, route, e));
    } catch (e) {
      this.fail(res, route, e);
    }
  }

  /** Answers a request; a promise when the answer waits for something (the backend, a held poll). */
  private route(req: HttpRequest, res: HttpResponse, route: string): Promise<void> | void {
    if (route === 'page') return this.servePage(req, res);
    const method = ROUTES[req.path];
    if (method === undefined || (req.path === '/metrics' && this.metrics === undefined)) throw new HttpError(404, 'not_found', `no such resource: ${req.path}`);
    // HEAD is GET without the body (RFC 9110 section 9.3.2; the HTTP layer leaves the body out).
    if (req.method !== method && !(req.method === 'HEAD' && method === 'GET')) {
      const allow = method === 'GET' ? 'GET, HEAD' : method;
      throw new HttpError(405, 'method_not_allowed', `${req.path} takes ${allow}`, { Allow: allow });
    }
    if (req.path === '/metrics') {
      res.send(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' }, this.metrics!.render());
      this.metrics!.requests.inc([route, '200']);
      return;
    }
    checkSameOrigin(req);
    if (method === 'POST') checkJsonBody(req);
    if (req.path === '/api/login') {
      this.limit(this.logins, req.remoteAddress ?? '?', 1, 'too many sign-in attempts; slow down');
      return this.login(req, res);
    }
    const session = this.sessions.verify(readCookie(req.headers.get('cookie'), SESSION_COOKIE));
    if (session === undefined && req.path === '/api/session') return this.reply(res, route, 200, { userId: null });
    if (session === undefined) throw new HttpError(401, 'unauthorized', 'sign in first (no session, or a session that is not valid)', { 'WWW-Authenticate': WWW_AUTHENTICATE });
    const me = session.userId;
    // Sends and typing have their own bucket (rateLimit); every other call of the session is metered here.
    if (req.path !== '/api/send' && req.path !== '/api/typing') this.limit(this.calls, session.userKey, 1, 'too many requests; slow down');
    switch (req.path) {
      case '/api/poll':
        return this.poll(req, res, me, session.userKey);
      case '/api/session':
        return this.session(res, me);
      case '/api/send':
        return this.send(req, res, me);
      case '/api/typing':
        return this.typing(req, res, me);
      case '/api/presence':
        return this.presence(res, me);
      case '/api/history':
        return this.history(req, res, me);
      case '/api/logout':
        return this.logout(res, me);
    }
  }

  private async session(res: HttpResponse, me: bigint): Promise<void> {
    this.reply(res, '/api/session', 200, await this.sessionAnswer(this.user(me, undefined)));
  }

  private async presence(res: HttpResponse, me: bigint): Promise<void> {
    const u = this.user(me, undefined);
    await this.friendsOf(u);
    this.replyText(res, '/api/presence', 200, `{"friends":${this.hub.viewText(u.friends, 0)}}`);
  }

  private servePage(req: HttpRequest, res: HttpResponse): void {
    const f = this.page.get(req.path)!;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', 'pages take GET or HEAD', { Allow: 'GET, HEAD' });
    const inm = req.headers.get('if-none-match');
    const fresh = inm !== undefined && inm.split(',').some((t) => t.trim() === f.etag);
    if (fresh) res.send(304, { ETag: f.etag, 'Cache-Control': 'no-cache' });
    else res.send(200, f.headers, f.body);
    this.metrics?.requests.inc(['page', fresh ? '304' : '200']);
  }

  /** Takes from `key`'s bucket in `limiter`, or 429 with Retry-After. */
  private limit(limiter: RateLimiter, key: string, cost: number, message: string): void {
    const wait = limiter.take(key, cost);
    if (wait > 0) throw new HttpError(429, 'rate_limited', message, { 'Retry-After': Math.max(1, Math.ceil(wait / 1000)) });
  }

  /** The user's state on this gateway, made on first use (also for a session from before a restart). */
  private user(id: bigint, knownSeq: bigint | undefined, key = id.toString()): UserChannel {
    let u = this.users.get(key);
    if (u === undefined || u.stopped) {
      u = new UserChannel(id, this, knownSeq);
      u.bucket = new TokenBucket(this.o.rateLimit ?? { ratePerSec: 5, burst: 20 });
      this.users.set(u.key, u);
    }
    u.lastUse = Date.now();
    return u;
  }

  private readonly friendsLoading = new WeakMap<UserChannel, Promise<void>>();

  /** Loads (once per user on this gateway) the friend list and their presence, and joins the presence hub. */
  private friendsOf(u: UserChannel): Promise<void> {
    let p = this.friendsLoading.get(u);
    if (p === undefined) {
      p = (async () => {
        const [friends, online] = await Promise.all([
          this.timed('friends', () => this.backend.friends(u.id)),
          this.timed('friendsPresence', () => this.backend.friendsPresence(u.id)),
        ]);
        if (u.stopped) return;
        this.hub.join(u, friends, online);
      })();
      this.friendsLoading.set(u, p);
      p.catch(() => this.friendsLoading.delete(u));
    }
    return p;
  }

  private async sessionAnswer(u: UserChannel, backendOk = false): Promise<Record<string, unknown>> {
    await Promise.all([u.ready, this.friendsOf(u)]);
    // A loop failing since an outage: the sign-in just reached the backend, or it may be back; ask it now.
    if (u.failure !== undefined) await u.retryNow(backendOk);
    if (u.failure !== undefined) throw u.failure;
    return { userId: u.key, seq: u.seq.toString(), epoch: u.epoch, pv: u.pv, friends: this.hub.view(u.friends, 0) };
  }

  private async login(req: HttpRequest, res: HttpResponse): Promise<void> {
    const body = parseBody(req.body);
    const who = await this.o.authenticate({ method: req.method, path: req.path, headers: req.headers, remoteAddress: req.remoteAddress }, body);
    if (who === null || who === undefined) throw new HttpError(401, 'unauthorized', 'sign-in refused');
    const id = toUserId(who);
    const seq = await this.timed('login', () => this.backend.login(id));
    const u = this.user(id, seq);
    const answer = await this.sessionAnswer(u, true);
    const cookie = this.sessions.setCookie(this.sessions.issue(id), this.o.secureCookie ?? false);
    this.reply(res, '/api/login', 200, answer, { 'Set-Cookie': cookie });
  }

  private poll(req: HttpRequest, res: HttpResponse, me: bigint, key: string): Promise<void> | void {
    const q = parseQuery(req.query);
    const seqText = q.get('seq');
    if (seqText === undefined) throw badRequest('"seq" is required: the seq of the last event the page has (from sign-in or the last poll)');
    const after = parseId(seqText, 'seq');
    const epoch = intParam(q, 'epoch', 0, Number.MAX_SAFE_INTEGER);
    const pv = intParam(q, 'pv', 0, Number.MAX_SAFE_INTEGER);
    const u = this.user(me, undefined, key);
    if (pv !== undefined) this.friendsOf(u).catch(() => undefined);
    const timeout = this.o.pollTimeoutMs ?? 25_000;
    const jitter = Math.min(1, Math.max(0, this.o.pollJitter ?? 0.2));
    return u.poll(res, after, epoch, pv, Date.now() + timeout * (1 - jitter * Math.random()));
  }

  private takeToken(u: UserChannel): void {
    const wait = u.bucket?.take() ?? 0;
    if (wait > 0) throw new HttpError(429, 'rate_limited', 'too many messages; slow down', { 'Retry-After': Math.max(1, Math.ceil(wait / 1000)) });
  }

  private async send(req: HttpRequest, res: HttpResponse, me: bigint): Promise<void> {
    const body = parseBody(req.body);
    const to = parseId(body.to, 'to');
    if (typeof body.text !== 'string' || body.text.length === 0) throw badRequest('"text" must be a non-empty string');
    const cm = body.clientMsgId;
    if (cm !== undefined && (typeof cm !== 'string' || cm.length > 128)) throw badRequest('"clientMsgId" must be a string of at most 128 characters');
    const u = this.user(me, undefined);
    this.takeToken(u);
    const text = body.text;
    const since = Date.now();
    const m = await this.timed('send', () => this.backend.send(me, to, text, { clientMsgId: cm as string | undefined }));
    this.reply(res, '/api/send', 200, { message: messageJson(m) });
    // The backend served this user: a loop still failing from an outage retries now.
    void u.retryNow(true);
    // Both channels got an event (the message, and the sender's echo): make sure the loops see them.
    u.expectEvent(NUDGE_MS, since);
    this.users.get(to.toString())?.expectEvent(NUDGE_MS, since);
  }

  private async typing(req: HttpRequest, res: HttpResponse, me: bigint): Promise<void> {
    const body = parseBody(req.body);
    const to = parseId(body.to, 'to');
    if (typeof body.active !== 'boolean') throw badRequest('"active" must be true or false');
    const u = this.user(me, undefined);
    this.takeToken(u);
    const active = body.active;
    const since = Date.now();
    await this.timed('typing', () => this.backend.typing(me, to, active));
    this.reply(res, '/api/typing', 200, {});
    void u.retryNow(true);
    this.users.get(to.toString())?.expectEvent(NUDGE_MS, since);
  }

  private async history(req: HttpRequest, res: HttpResponse, me: bigint): Promise<void> {
    const q = parseQuery(req.query);
    const peer = parseId(q.get('with'), 'with');
    const limit = intParam(q, 'limit', 1, this.o.maxHistoryLimit ?? 1000, 50)!;
    // A long read costs more of the caller's bucket (one token is taken already): one per 100 messages.
    if (limit > 100) this.limit(this.calls, me.toString(), Math.floor(limit / 100), 'too many messages asked; slow down');
    const msgs = await this.timed('history', () => this.backend.history(me, peer, limit));
    void this.users.get(me.toString())?.retryNow(true);
    this.reply(res, '/api/history', 200, { messages: msgs.map(messageJson) });
  }

  private async logout(res: HttpResponse, me: bigint): Promise<void> {
    const revoked = this.sessions.logout(me);
    if (this.o.revocations !== undefined) {
      try {
        await this.o.revocations.save(revoked);
      } catch (e) {
        // The logout holds in this process; only a restart would forget it.
        this.metrics?.errors.inc(['revocation_store']);
        this.logger.error('gateway: the revocation store failed to save a logout', { userId: revoked.userId, message: (e as Error).message });
      }
    }
    this.users.get(me.toString())?.stop();
    const cookie = this.sessions.clearCookie(this.o.secureCookie ?? false);
    try {
      await this.timed('logout', () => this.backend.logout(me));
    } catch {
      // The session is gone either way; the servers take the user offline after their grace time.
    }
    this.reply(res, '/api/logout', 200, {}, { 'Set-Cookie': cookie });
  }

  close(): Promise<void> {
    this.shuttingDown = true;
    this.closing ??= (async () => {
      clearInterval(this.sweep);
      this.hub.close();
      this.http.closing = true;
      for (const u of [...this.users.values()]) u.stop();
      await this.http.close(1000);
    })();
    return this.closing;
  }
}

/**
 * Starts the long-poll gateway and the chat page over `backend`. Resolves
 * once it listens; `.url` is the page. See the README's "Web gateway" section
 * for the HTTP API.
 */
export async function serveGateway(o: GatewayOptions): Promise<Gateway> {
  const g = new GatewayImpl(o);
  await g.listen();
  return g;
}

/**
 * An `authenticate` hook for demos and tests: any user id the servers know
 * friends of (the stub's seeded users) may sign in, with no password.
 * Never use it where users are real.
 */
export function acceptKnownUsers(backend: ChatBackend): Authenticate {
  return async (_req, body) => {
    let id: bigint;
    try {
      id = parseId(body.userId, 'userId');
    } catch {
      throw badRequest('"userId" must be a user id (a decimal string)');
    }
    const friends = await backend.friends(id);
    return friends.length > 0 ? id : null;
  };
}
