// The gateway's HTTP API with fetch, against the real chat stub over
// distribution: sign-in and sessions, the long-poll, send, typing, presence,
// history, logout, every error row of the issue, a forged cookie, and that
// no request reaches another user's data.
import t from 'tap';
import { connect } from 'node:net';
import { startChat, Client, SECRET } from './gateway-fixture.js';
import { ChatChannelCluster, acceptKnownUsers, serveGateway } from '../../src/chat/index.js';
import type { Revocation } from '../../src/chat/gateway/session.js';
import { until, waitUntil } from '../helpers/until.js';

const friendsOf = async (c: Client): Promise<string[]> => (await c.req('GET', '/api/presence')).json.friends.map((f: any) => f.userId);

// One stub and one node for the whole file; each test starts the gateways it needs over them.
const fx = await startChat(t, {
  gateway: { pollTimeoutMs: 1500, presenceIntervalMs: 300, rateLimit: { ratePerSec: 2, burst: 4 }, loginRateLimit: { ratePerSec: 5, burst: 30 }, metrics: true, headersTimeoutMs: 300 },
});

/** A raw connection that keeps its side open after the server's FIN. */
async function halfOpen(port: number): Promise<{ s: import('node:net').Socket; data: () => string }> {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let buf = '';
  s.setEncoding('latin1').on('data', (d) => (buf += d));
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  return { s, data: () => buf };
}

const metric = async (url: string, re: RegExp): Promise<number | undefined> => {
  const m = re.exec(await (await fetch(new URL('/metrics', url))).text());
  return m === null ? undefined : Number(m[1]);
};

t.test('HTTP API over the stub', async (t) => {
  const { gateway } = fx;
  const alice = new Client(gateway.url);
  const bob = new Client(gateway.url);
  const a = await alice.login(1);
  t.equal(a.userId, '1');
  t.match(a.seq, /^\d+$/, 'seq is a decimal string');
  t.ok(Array.isArray(a.friends) && a.friends.length > 0, 'friends come with the login');
  const bobId: string = a.friends[0].userId;
  const b = await bob.login(bobId);
  t.match(alice.cookie, /^bb_session=/);

  await t.test('the login cookie is HttpOnly and SameSite=Strict', async (t) => {
    const r = await new Client(gateway.url).req('POST', '/api/login', { userId: '2' });
    const set = r.headers.get('set-cookie')!;
    t.match(set, /HttpOnly/);
    t.match(set, /SameSite=Strict/);
    t.match(set, /Path=\//);
  });

  await t.test('presence: both see each other online', async (t) => {
    let state = '';
    await until(async () => (state = (await alice.req('GET', '/api/presence')).json.friends.find((f: any) => f.userId === bobId)?.state) === 'online', 10_000, 100);
    t.equal(state, 'online');
    const r = await bob.req('GET', '/api/presence');
    t.equal(r.json.friends.find((f: any) => f.userId === '1').state, 'online');
    for (const f of r.json.friends) t.match(f, { userId: String, state: /^(online|idle|offline)$/, idleSeconds: Number });
  });

  await t.test('a held poll is answered by a send, within bounds', async (t) => {
    const before = gateway.stats().heldPolls;
    let answered = false;
    const held = bob.req('GET', `/api/poll?seq=${b.seq}`).finally(() => (answered = true));
    await waitUntil('the poll held (or answered)', () => answered || gateway.stats().heldPolls > before);
    const t0 = Date.now();
    const sent = await alice.req('POST', '/api/send', { to: bobId, text: 'hello bob', clientMsgId: 'm-1' });
    t.equal(sent.status, 200);
    t.match(sent.json.message, { from: '1', to: bobId, text: 'hello bob', clientMsgId: 'm-1', id: /^\d+$/ });
    const r = await held;
    const ms = Date.now() - t0;
    t.equal(r.status, 200);
    t.equal(r.json.status, 'events');
    t.equal(r.json.events.length, 1);
    t.match(r.json.events[0], { type: 'message', message: { text: 'hello bob', id: sent.json.message.id } });
    t.comment(`send -> held poll answered in ${ms} ms`);
    t.ok(ms < 10_000);
    // The same clientMsgId again: the first message, queued once.
    const again = await alice.req('POST', '/api/send', { to: bobId, text: 'hello bob', clientMsgId: 'm-1' });
    t.equal(again.json.message.id, sent.json.message.id);
    const next = await bob.req('GET', `/api/poll?seq=${r.json.seq}`);
    t.equal(next.json.status, 'continue', 'nothing new after the repeated send (timeout -> continue)');
    b.seq = next.json.seq;
  });

  await t.test('a poll from an older seq gets the buffered events at once', async (t) => {
    const r = await alice.req('GET', `/api/poll?seq=${a.seq}`);
    t.equal(r.json.status, 'events');
    t.ok(r.json.events.some((e: any) => e.message?.text === 'hello bob'), 'the echo of her own message (multi-tab)');
    const ahead = await alice.req('GET', `/api/poll?seq=${BigInt(r.json.seq) + 100n}`);
    t.equal(ahead.json.status, 'refresh', 'a seq ahead of the channel: refresh');
    t.equal(ahead.json.seq, r.json.seq);
    a.seq = r.json.seq;
  });

  await t.test('typing reaches the peer', async (t) => {
    const held = bob.req('GET', `/api/poll?seq=${b.seq}`);
    const r = await alice.req('POST', '/api/typing', { to: bobId, active: true });
    t.same(r.json, {});
    const p = await held;
    t.match(p.json.events[0], { type: 'typing', typing: { from: '1', to: bobId, active: true } });
    b.seq = p.json.seq;
  });

  await t.test('history: oldest first, only the caller\'s conversations', async (t) => {
    const h = await bob.req('GET', `/api/history?with=1&limit=10`);
    t.equal(h.status, 200);
    t.ok(h.json.messages.length >= 1);
    t.equal(h.json.messages.at(-1).text, 'hello bob');
    // Carol (another user) asks for "history with 1": her own (empty) conversation, never Bob's.
    const carolId = (await friendsOf(alice)).find((id) => id !== bobId)!;
    const carol = new Client(gateway.url);
    await carol.login(carolId);
    const c = await carol.req('GET', `/api/history?with=1&limit=10`);
    t.same(c.json.messages, [], 'another user\'s conversation is not reachable');
    const c2 = await carol.req('GET', `/api/history?with=${bobId}&limit=10`);
    t.notOk(c2.json.messages.some((m: any) => m.text === 'hello bob'));
  });

  await t.test('errors: 400, 401, 404, 405, 413', async (t) => {
    const bad = await alice.req('POST', '/api/send', '{"to": ');
    t.equal(bad.status, 400);
    t.equal(bad.json.error.code, 'bad_json');
    t.type(bad.json.error.message, 'string');
    for (const body of [{ to: 'x', text: 'a' }, { to: bobId }, { to: bobId, text: 5 }, { to: bobId, text: 'a', clientMsgId: 7 }, [1]]) {
      const r = await alice.req('POST', '/api/send', body);
      t.equal(r.status, 400, `400 for ${JSON.stringify(body)}`);
    }
    t.equal((await alice.req('POST', '/api/typing', { to: bobId, active: 'yes' })).status, 400);
    t.equal((await alice.req('GET', '/api/poll')).status, 400, 'poll without seq');
    t.equal((await alice.req('GET', '/api/poll?seq=abc')).status, 400);
    t.equal((await alice.req('GET', '/api/history?with=2&limit=0')).status, 400);
    t.equal((await alice.req('POST', '/api/login', { userId: 'nobody' })).status, 400);
    const nobody = await new Client(gateway.url).req('POST', '/api/login', { userId: '999999' });
    t.equal(nobody.status, 401, 'a user the hook refuses');
    const anon = new Client(gateway.url);
    for (const [m, p] of [['GET', '/api/poll?seq=0'], ['POST', '/api/send'], ['POST', '/api/typing'], ['GET', '/api/presence'], ['GET', '/api/history?with=1'], ['POST', '/api/logout']]) {
      const r = await anon.req(m, p, m === 'POST' ? {} : undefined);
      t.equal(r.status, 401, `401 for ${m} ${p} without a session`);
      t.equal(r.json.error.code, 'unauthorized');
      t.match(r.headers.get('www-authenticate'), /^Cookie realm="beambridge", cookie-name="bb_session"/, 'RFC 9110 section 11.6.1: a 401 says how to authenticate');
    }
    const nf = await alice.req('GET', '/api/nothing');
    t.equal(nf.status, 404);
    t.equal(nf.json.error.code, 'not_found');
    const na = await alice.req('GET', '/api/send');
    t.equal(na.status, 405);
    t.equal(na.headers.get('allow'), 'POST');
    const del = await alice.req('DELETE', '/api/poll');
    t.equal(del.status, 405);
    t.equal(del.headers.get('allow'), 'GET, HEAD');
    t.equal((await alice.req('GET', '/api/history?with=2&limit=1001')).status, 400, 'history limit capped at 1000');
    const big = await alice.req('POST', '/api/send', { to: bobId, text: 'x'.repeat(70 * 1024) });
    t.equal(big.status, 413);
    t.equal(big.json.error.code, 'too_large');
    // Nothing changed: the session works, nothing was queued for bob by the refused sends.
    const h = await alice.req('GET', `/api/history?with=${bobId}&limit=100`);
    t.equal(h.json.messages.filter((m: any) => m.from === '1').length, 1);
  });

  await t.test('a forged or altered cookie is 401; no parameter names the caller', async (t) => {
    const [, value] = alice.cookie.split('=');
    const [, issued, sig] = value.split('.');
    const forged = new Client(gateway.url);
    forged.cookie = `bb_session=${bobId}.${issued}.${sig}`;
    t.equal((await forged.req('GET', '/api/presence')).status, 401, 'another user id under alice\'s signature');
    forged.cookie = `bb_session=1.${issued}.${'A'.repeat(43)}`;
    t.equal((await forged.req('GET', '/api/presence')).status, 401, 'a made-up signature');
    forged.cookie = 'bb_session=1';
    t.equal((await forged.req('GET', '/api/presence')).status, 401);
    // Extra fields naming someone else are ignored: the session's user sends.
    const r = await alice.req('POST', '/api/send', { to: bobId, text: 'as whom?', from: bobId, userId: bobId });
    t.equal(r.json.message.from, '1');
    const p = await alice.req('GET', `/api/history?with=${bobId}&user=${bobId}&limit=1`);
    t.equal(p.json.messages[0].from, '1');
    t.ok(SECRET.length >= 16);
  });

  await t.test('POST bodies are JSON (415), cross-site requests are refused (403), plain clients pass', async (t) => {
    // What an HTML form on another site can send: text/plain, form-urlencoded, multipart.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await new Client(gateway.url).req('POST', '/api/login', '{"userId":"2"}', { 'content-type': type });
      t.equal(r.status, 415, `415 for ${type}`);
      t.equal(r.json.error.code, 'unsupported_media_type');
    }
    t.equal((await alice.req('POST', '/api/send', '{"to":"2","text":"x"}', { 'content-type': 'text/plain' })).status, 415);
    t.equal((await new Client(gateway.url).req('POST', '/api/login', { userId: '2' }, { 'content-type': 'application/json; charset=utf-8' })).status, 200, 'JSON with a charset');
    for (const site of ['cross-site', 'same-site']) {
      const r = await new Client(gateway.url).req('POST', '/api/login', { userId: '2' }, { 'sec-fetch-site': site });
      t.equal(r.status, 403, `403 for Sec-Fetch-Site: ${site}`);
      t.equal(r.json.error.code, 'cross_site');
      t.equal((await alice.req('GET', '/api/presence', undefined, { 'sec-fetch-site': site })).status, 403);
    }
    t.equal((await alice.req('GET', '/api/presence', undefined, { 'sec-fetch-site': 'same-origin' })).status, 200);
    t.equal((await alice.req('GET', '/api/presence', undefined, { 'sec-fetch-site': 'none' })).status, 200, 'a URL typed by the person');
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${gateway.port + 1}`]) {
      t.equal((await alice.req('POST', '/api/typing', { to: bobId, active: false }, { origin })).status, 403, `403 for Origin: ${origin}`);
    }
    t.equal((await alice.req('GET', '/api/presence', undefined, { origin: `http://127.0.0.1:${gateway.port}` })).status, 200, 'the same origin');
    t.equal((await alice.req('GET', '/api/presence')).status, 200, 'no Sec-Fetch-Site, no Origin: a plain client');
  });

  await t.test('HEAD is GET without the body', async (t) => {
    for (const path of ['/', '/chat.css', '/metrics', '/api/presence', '/api/session']) {
      const h: Record<string, string> = { cookie: alice.cookie };
      const get = await fetch(new URL(path, gateway.url), { headers: h });
      const getBody = await get.text();
      const head = await fetch(new URL(path, gateway.url), { method: 'HEAD', headers: h });
      t.equal(head.status, 200, `HEAD ${path}`);
      t.equal(await head.text(), '', 'no body');
      t.equal(head.headers.get('content-type'), get.headers.get('content-type'));
      if (!path.startsWith('/metrics')) t.equal(head.headers.get('content-length'), String(Buffer.byteLength(getBody)), 'the length GET has');
    }
    t.equal((await fetch(new URL('/api/send', gateway.url), { method: 'HEAD' })).status, 405, 'not on a POST route');
  });

  await t.test('a 408 is counted once, even to a client that keeps its side open', async (t) => {
    const re = /beambridge_gateway_requests_total\{route="http",status="408"\} (\d+)/;
    const before = (await metric(gateway.url, re)) ?? 0;
    const c = await halfOpen(gateway.port);
    c.s.write('GET /api/presence HTTP/1.1\r\nHo');
    await until(() => c.data() !== '');
    t.match(c.data(), /^HTTP\/1\.1 408 /);
    await new Promise((r) => setTimeout(r, 600)); // several sweeps of the server (every 75 ms here)
    t.equal(await metric(gateway.url, re), before + 1);
    c.s.destroy();
  });

  await t.test('429 with Retry-After past the token bucket; nothing sent past it', async (t) => {
    const dave = new Client(gateway.url);
    const daveId = (await friendsOf(bob)).find((id) => id !== '1')!;
    await dave.login(daveId);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const r = await dave.req('POST', '/api/typing', { to: bobId, active: i % 2 === 0 });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        t.equal(r.json.error.code, 'rate_limited');
      }
    }
    t.ok(statuses.includes(429), `statuses ${statuses.join(',')}`);
    t.match(retryAfter, /^\d+$/);
  });

  await t.test('tabs: a few polls at once, the oldest answered continue past the limit', async (t) => {
    const seq = (await alice.req('GET', `/api/poll?seq=0`)).json.seq;
    const polls = [1, 2, 3, 4, 5].map(() => alice.req('GET', `/api/poll?seq=${seq}`));
    const first = await polls[0];
    t.equal(first.json.status, 'continue', 'the fifth poll ends the first');
    await bob.req('POST', '/api/send', { to: '1', text: 'to all tabs' });
    for (const p of polls.slice(1)) {
      const r = await p;
      t.equal(r.json.status, 'events');
      t.equal(r.json.events.at(-1).message.text, 'to all tabs');
    }
  });

  await t.test('a poll whose client went away is released at once', async (t) => {
    const seq = (await alice.req('GET', `/api/poll?seq=0`)).json.seq;
    const before = gateway.stats().heldPolls;
    const sock = connect(gateway.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /api/poll?seq=${seq} HTTP/1.1\r\nHost: x\r\nCookie: ${alice.cookie}\r\n\r\n`);
    await until(() => gateway.stats().heldPolls === before + 1);
    t.equal(gateway.stats().heldPolls, before + 1, 'held');
    sock.destroy();
    await until(() => gateway.stats().heldPolls === before);
    t.equal(gateway.stats().heldPolls, before, 'released when the client closed');
  });

  await t.test('metrics in the Prometheus text format', async (t) => {
    const r = await fetch(new URL('/metrics', gateway.url));
    t.equal(r.status, 200);
    t.match(r.headers.get('content-type'), /text\/plain/);
    const text = await r.text();
    t.match(text, /# TYPE beambridge_gateway_held_polls gauge/);
    t.match(text, /beambridge_gateway_requests_total\{route="\/api\/send",status="200"\} \d+/);
    t.match(text, /beambridge_gateway_requests_total\{route="http",status="413"\} 1/);
    t.match(text, /beambridge_gateway_backend_call_seconds_bucket\{method="send",le="\+Inf"\} \d+/);
    t.match(text, /beambridge_gateway_errors_total\{code="rate_limited"\} \d+/);
    t.match(text, /beambridge_gateway_errors_total\{code="too_large"\} 1/);
    t.match(text, /beambridge_gateway_presence_calls_total \d+/);
  });

  await t.test('logout: 401 after, the friend sees offline', async (t) => {
    t.same((await bob.req('POST', '/api/logout')).json, {});
    t.equal(bob.cookie, '', 'the cookie is cleared');
    const stale = new Client(gateway.url);
    stale.cookie = `bb_session=${b.userId}.0.x`;
    t.equal((await stale.req('GET', '/api/presence')).status, 401);
    let state = '';
    await until(async () => (state = (await alice.req('GET', '/api/presence')).json.friends.find((f: any) => f.userId === bobId).state) === 'offline', 10_000, 100);
    t.equal(state, 'offline');
  });

  await t.test('the page and its files', async (t) => {
    for (const [path, type] of [['/', /text\/html/], ['/chat.js', /text\/javascript/], ['/chat.css', /text\/css/], ['/channel.html', /text\/html/], ['/channel.js', /text\/javascript/]] as const) {
      const r = await fetch(new URL(path, gateway.url));
      t.equal(r.status, 200, path);
      t.match(r.headers.get('content-type'), type);
      t.equal(r.headers.get('cache-control'), 'no-cache');
      const etag = r.headers.get('etag')!;
      const again = await fetch(new URL(path, gateway.url), { headers: { 'if-none-match': etag } });
      t.equal(again.status, 304, `${path} revalidates`);
    }
    const post = await fetch(new URL('/metrics', gateway.url), { method: 'POST' });
    t.equal(post.status, 405);
    t.equal(post.headers.get('allow'), 'GET, HEAD');
    // Five 304s counted as 304 (and the 200s as 200: five GETs above, two in the HEAD test's GETs, two HEADs).
    t.equal(await metric(gateway.url, /beambridge_gateway_requests_total\{route="page",status="304"\} (\d+)/), 5);
    t.equal(await metric(gateway.url, /beambridge_gateway_requests_total\{route="page",status="200"\} (\d+)/), 9);
  });
});

t.test('rate limits: sign-in per address, every other call per session, long history reads cost more', async (t) => {
  const g = await fx.startGateway({ loginRateLimit: { ratePerSec: 0.2, burst: 2 }, apiRateLimit: { ratePerSec: 0.5, burst: 3 } });
  const a = new Client(g.url);
  const b = new Client(g.url);
  await a.login(11);
  await b.login(12);
  const third = await new Client(g.url).req('POST', '/api/login', { userId: '13' });
  t.equal(third.status, 429, 'the third sign-in from one address in a row');
  t.equal(third.json.error.code, 'rate_limited');
  t.match(third.headers.get('retry-after'), /^[1-9]\d*$/);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await a.req('GET', '/api/presence')).status);
  t.same(statuses, [200, 200, 200, 429], 'presence: burst 3, then 429');
  const limited = await a.req('GET', `/api/poll?seq=0`);
  t.equal(limited.status, 429, 'polls share the bucket');
  t.match(limited.headers.get('retry-after'), /^[1-9]\d*$/);
  t.equal((await b.req('GET', '/api/history?with=11&limit=50')).status, 200, 'a short read: one token');
  t.equal((await b.req('GET', '/api/history?with=11&limit=1000')).status, 429, 'a long read costs more than is left');
  t.equal((await b.req('POST', '/api/send', { to: '11', text: 'sends have their own bucket' })).status, 200);
});

t.test('sessions: expiry signed in the cookie, logout kept for the TTL, a store keeps it across restarts', async (t) => {
  const saved: Revocation[] = [];
  const store = { load: () => saved, save: (r: Revocation) => void saved.push(r) };
  const ttl = 3000;
  const g = await fx.startGateway({ sessionTtlMs: ttl, revocations: store });
  const c = new Client(g.url);
  await c.login(14);
  const old = c.cookie;
  const [, issued, expires] = old.split('=')[1].split('.');
  t.equal(Number(expires) - Number(issued), ttl, 'the expiry is in the cookie');
  t.equal((await c.req('POST', '/api/logout')).status, 200);
  t.equal(saved.length, 1, 'the store was told');
  t.match(saved[0], { userId: '14', revokedAtMs: Number, untilMs: saved[0].revokedAtMs + ttl });
  const stale = new Client(g.url);
  stale.cookie = old;
  t.equal((await stale.req('GET', '/api/presence')).status, 401, 'the logged-out session is refused');
  await c.login(14);
  t.equal((await c.req('GET', '/api/presence')).status, 200, 'a new sign-in works');
  // A restart with the same secret and the store: the logout holds.
  const restarted = await fx.startGateway({ sessionTtlMs: ttl, revocations: store });
  stale.base = restarted.url;
  t.equal((await stale.req('GET', '/api/presence')).status, 401, 'refused after a restart with the store');
  // Without the store a restart forgets the logout (documented): the copy is accepted until it expires.
  const forgetful = await fx.startGateway({ sessionTtlMs: ttl });
  stale.base = forgetful.url;
  t.equal((await stale.req('GET', '/api/presence')).status, 200, 'a restart without a store forgets logouts');
  // An altered expiry breaks the signature.
  const [name, value] = c.cookie.split('=');
  const parts = value.split('.');
  const forged = new Client(g.url);
  forged.cookie = `${name}=${parts[0]}.${parts[1]}.${Number(parts[2]) + 1e9}.${parts[3]}`;
  t.equal((await forged.req('GET', '/api/presence')).status, 401, 'a longer expiry is a forgery');
  // Expiry: past the TTL the session is refused everywhere.
  const wait = Number(expires) + 50 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  stale.base = forgetful.url;
  t.equal((await stale.req('GET', '/api/presence')).status, 401, 'expired');
});

t.test('a server error after listen goes to the logger and the metrics; the gateway keeps serving', async (t) => {
  const logged: [string, Record<string, unknown> | undefined][] = [];
  const log = (message: string, fields?: Record<string, unknown>) => void logged.push([message, fields]);
  const g = await fx.startGateway({ logger: { debug: log, info: log, warn: log, error: log } });
  // What an accept failure looks like to the listening server (the gateway's HTTP server is internal).
  (g as any).http.server.emit('error', Object.assign(new Error('accept: too many open files'), { code: 'EMFILE' }));
  t.match(logged, [[/server error/, { code: 'EMFILE', message: 'accept: too many open files' }]]);
  t.equal(await metric(g.url, /beambridge_gateway_errors_total\{code="server_error"\} (\d+)/), 1);
  t.equal((await fetch(new URL('/chat.css', g.url))).status, 200, 'still serving');
});

t.test('metrics are off unless enabled; a second gateway accepts the first one\'s cookies', async (t) => {
  const g = await fx.startGateway({ metrics: false });
  t.equal((await fetch(new URL('/metrics', g.url))).status, 404);
  const c = new Client(g.url);
  await c.login(3);
  const other = await fx.startGateway();
  c.base = other.url;
  t.equal((await c.req('GET', '/api/presence')).status, 200, 'same secret: the session holds');
});

t.test('the same gateway over Thrift (ChatChannelCluster), served by node:http', async (t) => {
  const chat = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: fx.stub.thriftPort }] });
  const gateway = await serveGateway({ backend: chat, secret: SECRET, authenticate: acceptKnownUsers(chat), httpServer: 'node:http', pollTimeoutMs: 2000, presenceIntervalMs: 200 });
  t.teardown(async () => {
    await gateway.close();
    await chat.close();
  });
  const alice = new Client(gateway.url);
  const a = await alice.login(1);
  const bobId: string = a.friends[0].userId;
  const bob = new Client(gateway.url);
  const b = await bob.login(bobId);
  let answered = false;
  const held = bob.req('GET', `/api/poll?seq=${b.seq}&epoch=${b.epoch}&pv=${b.pv}`).finally(() => (answered = true));
  // Held, or answered at once by a presence change (allowed below).
  await waitUntil('the poll held (or answered)', () => answered || gateway.stats().heldPolls > 0);
  const sent = await alice.req('POST', '/api/send', { to: bobId, text: 'over thrift' });
  t.equal(sent.status, 200);
  const r = await held;
  t.equal(r.json.status, 'events');
  t.ok(r.json.events.some((e: any) => e.message?.text === 'over thrift') || r.json.presence, 'the message (or a presence change first)');
  const h = await bob.req('GET', '/api/history?with=1&limit=5');
  t.equal(h.json.messages.at(-1).text, 'over thrift');
  t.equal((await bob.req('POST', '/api/send', { to: '1', text: 'x'.repeat(70_000) })).status, 413, '413 on node:http too');
  t.equal((await new Client(gateway.url).req('GET', '/api/presence')).status, 401);
});

// Last two: they stop the shared stub (and start it again).
t.test('backend down: polls answered 503 with Retry-After, then back', async (t) => {
  const g = await fx.startGateway({ pollTimeoutMs: 1000, backoff: { baseDelayMs: 100, maxDelayMs: 300 } });
  const c = new Client(g.url);
  const s = await c.login(5);
  let t0 = Date.now();
  await fx.stub.stop();
  t.comment(`stub stopped in ${Date.now() - t0} ms`);
  t0 = Date.now();
  let r = await c.req('GET', `/api/poll?seq=${s.seq}`);
  for (let i = 0; i < 50 && r.status === 200; i++) r = await c.req('GET', `/api/poll?seq=${s.seq}`);
  t.equal(r.status, 503);
  t.equal(r.json.error.code, 'unavailable');
  t.match(r.headers.get('retry-after'), /^\d+$/);
  const send = await c.req('POST', '/api/send', { to: '6', text: 'x' });
  t.equal(send.status, 503);
  t.comment(`503s within ${Date.now() - t0} ms`);
  t0 = Date.now();
  fx.stub = await fx.stub.restart();
  t.comment(`stub restarted in ${Date.now() - t0} ms`);
  t0 = Date.now();
  await until(async () => (r = await c.req('GET', `/api/poll?seq=${s.seq}`)).status === 200, 60_000, 200);
  t.equal(r.status, 200, 'polls answer again once the stub is back');
  t.comment(`polls answered ${Date.now() - t0} ms after the restart`);
  t.match(r.json.status, /^(refresh|continue|events)$/);
});

t.test('backend back: with the default upstreamPollMs and backoff, polls and sends succeed within seconds', async (t) => {
  // Defaults but for the browser poll's hold (1 s): the gateway's upstream long-poll is held 20 s, its backoff up to 10 s.
  const g = await fx.startGateway({ pollTimeoutMs: 1000 });
  const c = new Client(g.url);
  const s = await c.login(31);
  // Seq 0, as the restarted stub's new channel will have: the loop's first poll there is held, not answered `refresh`.
  t.equal(s.seq, '0', 'user 31 has had no events');
  const peer: string = s.friends[0].userId;
  // A poll held upstream (nothing for user 31): the loop is in its long-poll when the stub goes.
  const held = c.req('GET', `/api/poll?seq=${s.seq}`);
  await new Promise((r) => setTimeout(r, 200));
  await fx.stub.stop();
  t.equal((await held).status, 503, 'the held poll fails with the backend');
  let r = await c.req('GET', `/api/poll?seq=${s.seq}`);
  t.equal(r.status, 503, 'polls answered 503 while the stub is down');
  // Down long enough that the loop's backoff has grown past a couple of seconds (250 ms doubling).
  await new Promise((res) => setTimeout(res, 3000));
  fx.stub = await fx.stub.restart();
  // From when the cluster client itself serves again (its own recovery is not the gateway's).
  await waitUntil('the cluster client recovering', async () => !fx.chat.isDown(fx.stub.node) && (await fx.chat.friends(31).then(() => true, () => false)), 60_000, 50);
  const t0 = Date.now();
  // As a page does after a 503: poll again (every 200 ms here, the page waits longer).
  await until(async () => (r = await c.req('GET', `/api/poll?seq=${s.seq}`)).status === 200, 30_000, 200);
  const pollMs = Date.now() - t0;
  t.comment(`poll answered 200 ${pollMs} ms after the cluster was usable again (held up to 1 s of it)`);
  t.equal(r.status, 200, 'polls answer again');
  t.ok(pollMs < 4000, `within a couple of seconds and the poll's hold, not the upstream poll's 20 s (${pollMs} ms)`);
  t.match(r.json.status, /^(refresh|continue|events)$/);
  // The peer signs in on the restarted stub; a send from user 31 reaches its own channel through the gateway.
  await new Client(g.url).login(peer);
  const sent = await c.req('POST', '/api/send', { to: peer, text: 'after the outage' });
  t.equal(sent.status, 200, 'sends work again');
  t.comment(`send answered ${Date.now() - t0} ms after the cluster was usable again`);
  const seq = r.json.seq;
  const deadline = Date.now() + 10_000;
  let got = false;
  while (!got && Date.now() < deadline) {
    const p = await c.req('GET', `/api/poll?seq=${seq}&epoch=${r.json.epoch}`);
    t.equal(p.status, 200);
    got = p.json.status === 'events' && p.json.events.some((e: any) => e.message?.text === 'after the outage');
    if (p.json.status === 'refresh') break;
  }
  t.ok(got, 'the echo of the send reaches the poll');
});

t.test('sessions: a TTL lowered across a restart cannot revive a logged-out cookie', async (t) => {
  const { SessionSigner } = await import('../../src/chat/gateway/session.js');
  const secret = 'a-secret-of-at-least-16-bytes';
  // Cookies signed while the TTL was 60 s; the gateway restarts with 200 ms.
  const long = new SessionSigner(secret, 60_000);
  const cookie = long.issue(21n);
  const c2 = long.issue(22n);
  const short = new SessionSigner(secret, 200);
  t.equal(short.verify(cookie), undefined, 'a cookie signed for longer than the current TTL is refused');
  t.match(short.verify(short.issue(21n)), { userId: 21n }, 'a cookie of the current TTL is accepted');
  // A logout on the short-TTL gateway, loaded from a store after its untilMs by a
  // gateway whose TTL is long: kept for one TTL of the loader, so the cookie stays refused.
  await new Promise((res) => setTimeout(res, 5)); // after c2's issue time (each signer counts its own)
  const r = short.logout(22n);
  await new Promise((res) => setTimeout(res, 300));
  const loader = new SessionSigner(secret, 60_000);
  loader.revoke(r);
  t.equal(loader.revocations, 1, 'kept past its own untilMs');
  t.equal(loader.verify(c2), undefined, 'the logged-out cookie is refused');
  t.match(loader.verify(cookie), { userId: 21n }, 'another user is not affected');
});
