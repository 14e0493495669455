// The gateway's HTTP/1.1 server (src/chat/gateway/http.ts): the parser fed
// one byte at a time, every limit and refusal, keep-alive and pipelining,
// deadlines for slow or silent clients, and garbage that must never crash it.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { HttpParser, HttpParseError, serveHttp, type HttpRequest } from '../../src/chat/gateway/http.js';
import { until, waitUntil } from '../helpers/until.js';

const REQS = [
  'GET /api/poll?seq=5&pv=1 HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\n\r\n',
  `POST /api/send HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength('{"text":"hé"}')}\r\n\r\n{"text":"hé"}`,
  '\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\nX-A: 1\r\nX-A: 2\r\n\r\n',
];

function parseAll(p: HttpParser): HttpRequest[] {
  const out: HttpRequest[] = [];
  for (let r = p.next(); r !== undefined; r = p.next()) out.push(r);
  return out;
}

t.test('the parser: whole, and one byte at a time', async (t) => {
  const all = Buffer.from(REQS.join(''));
  const whole = new HttpParser();
  whole.push(all);
  const a = parseAll(whole);
  t.equal(a.length, 3);
  t.match(a[0], { method: 'GET', path: '/api/poll', query: 'seq=5&pv=1', keepAlive: true });
  t.equal(a[0].headers.get('cookie'), 'x=1');
  t.equal(a[1].body.toString('utf8'), '{"text":"hé"}', 'the body as bytes (UTF-8)');
  t.equal(a[2].headers.get('x-a'), '1, 2', 'repeated fields joined');
  t.equal(a[2].keepAlive, true, 'HTTP/1.0 with keep-alive');
  const bytewise = new HttpParser();
  const b: HttpRequest[] = [];
  for (let i = 0; i < all.length; i++) {
    bytewise.push(all.subarray(i, i + 1));
    b.push(...parseAll(bytewise));
  }
  t.equal(b.length, 3);
  t.same(b.map((r) => [r.method, r.path, r.query, r.body.toString('hex'), [...r.headers]]), a.map((r) => [r.method, r.path, r.query, r.body.toString('hex'), [...r.headers]]));
  t.equal(bytewise.buffered, 0);
  // Every split point in two pieces gives the same requests.
  for (let cut = 1; cut < all.length; cut += 7) {
    const p = new HttpParser();
    p.push(all.subarray(0, cut));
    const got = parseAll(p);
    p.push(all.subarray(cut));
    got.push(...parseAll(p));
    t.equal(got.length, 3, `cut at ${cut}`);
  }
});

t.test('the parser: names in lower case, values trimmed, the first ? splits the target', async (t) => {
  const p = new HttpParser();
  p.push(Buffer.from('GET /a/b?x=1?y=%20 HTTP/1.1\r\nHOST:  h \t\r\nConnection: Keep-Alive, CLOSE\r\nX-Empty:\r\nX-Tabs: \t \r\n\r\n', 'latin1'));
  const r = p.next()!;
  t.match(r, { method: 'GET', path: '/a/b', query: 'x=1?y=%20', keepAlive: false });
  t.same([...r.headers], [['host', 'h'], ['connection', 'Keep-Alive, CLOSE'], ['x-empty', ''], ['x-tabs', '']]);
  t.equal(r.body.length, 0);
  p.push(Buffer.from('GET / HTTP/1.0\r\nConnection: KEEP-ALIVE\r\nX: caf\xe9\r\n\r\n', 'latin1'));
  const r2 = p.next()!;
  t.match(r2, { path: '/', query: '', keepAlive: true });
  t.equal(r2.headers.get('x'), 'caf\xe9', 'obs-text kept as latin1');
  t.equal(p.buffered, 0);
});

t.test('the parser refuses what is not strict HTTP/1.1', async (t) => {
  const cases: [string, number][] = [
    ['GET /x HTTP/1.1\r\n\r\n', 400], // no Host
    ['GET /x HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['GET /x FOO\r\nHost: a\r\n\r\n', 400],
    ['GET  /x HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['G(T /x HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET x HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost: a\nX: b\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n', 400],
    ['GET /x HTTP/1.1\r\nHost\r\n\r\n', 400],
    ['GET /x HTTP/1.1 \r\nHost: a\r\n\r\n', 400],
    ['GET / x HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET /\x01 HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
    ['POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400],
    ['POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n', 400],
    ['POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 501],
    ['POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n', 413],
    [`GET /x HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(9000)}\r\n\r\n`, 431],
    [`GET /x HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(9000)}`, 431], // no end of head yet: still refused
  ];
  for (const [text, status] of cases) {
    const p = new HttpParser();
    p.push(Buffer.from(text, 'latin1'));
    try {
      p.next();
      t.fail(`accepted ${JSON.stringify(text.slice(0, 60))}`);
    } catch (e) {
      t.ok(e instanceof HttpParseError);
      t.equal((e as HttpParseError).status, status, JSON.stringify(text.slice(0, 60)));
    }
  }
  const same = new HttpParser();
  same.push(Buffer.from('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'));
  t.equal(same.next()?.body.toString(), 'ok', 'equal repeated Content-Length is one length');
});

t.test('garbage and mutations never throw anything but HttpParseError', async (t) => {
  const base = Buffer.from(REQS.join(''));
  let refused = 0;
  let parsed = 0;
  const feed = (buf: Buffer, step: number) => {
    const p = new HttpParser();
    try {
      for (let i = 0; i < buf.length; i += step) {
        p.push(buf.subarray(i, i + step));
        parsed += parseAll(p).length;
      }
    } catch (e) {
      if (!(e instanceof HttpParseError)) throw e;
      refused++;
    }
  };
  // Every byte XORed with 1, 2, 4, ..., 128 and 255 (the way OTP fuzzes its decoder).
  for (let i = 0; i < base.length; i++) {
    for (const x of [1, 2, 4, 8, 16, 32, 64, 128, 255]) {
      const m = Buffer.from(base);
      m[i] ^= x;
      feed(m, 1 + (i % 17));
    }
  }
  // Every truncation.
  for (let i = 0; i < base.length; i++) feed(base.subarray(0, i), 3);
  // Random bytes, bounded.
  for (let i = 0; i < 2000; i++) feed(randomBytes(1 + (i % 300)), 1 + (i % 64));
  t.ok(refused > 0 && parsed > 0, `refused ${refused}, parsed ${parsed}`);
});

/** Opens a raw connection and collects what comes back. */
async function raw(port: number): Promise<{ s: Socket; data: () => string; closed: Promise<void> }> {
  const s = connect(port, '127.0.0.1');
  let buf = '';
  s.setEncoding('latin1').on('data', (d) => (buf += d));
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  return { s, data: () => buf, closed };
}

/**
 * The grace given to close() where it must not be used up: long, so that a
 * close that waited for it is told from one slowed by a loaded machine.
 */
const CLOSE_GRACE_MS = 20_000;

t.test('the server: keep-alive, pipelining in order, limits, deadlines', async (t) => {
  const held: { res: any }[] = [];
  const srv = await serveHttp((req, res) => {
    if (req.path === '/hold') {
      held.push({ res });
      return;
    }
    if (req.path === '/throw') throw new Error('boom');
    res.send(200, { 'Content-Type': 'text/plain' }, `${req.method} ${req.path} ${req.body.length}`);
  }, 0, '127.0.0.1', { headersTimeoutMs: 300, requestTimeoutMs: 500, keepAliveTimeoutMs: 400 });
  t.teardown(() => srv.close());
  const port = (srv.server.address() as { port: number }).port;

  await t.test('fetch works, on one kept-alive connection', async (t) => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/a${i}`, { method: 'POST', body: 'xyz' });
      t.equal(await r.text(), `POST /a${i} 3`);
    }
    t.ok(srv.connections <= 2);
  });

  await t.test('pipelined requests are answered in order, one after the other', async (t) => {
    const c = await raw(port);
    c.s.write('GET /hold HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await waitUntil('the first request held', () => held.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    t.equal(c.data(), '', 'nothing answered while the first is held');
    held.shift()!.res.send(200, {}, 'first');
    await c.closed;
    const bodies = c.data().split('\r\n\r\n').slice(1).map((x) => x.split('HTTP/1.1')[0]);
    t.same(bodies, ['first', 'GET /b 0', 'GET /c 0']);
    t.match(c.data(), /Connection: close/);
  });

  await t.test('a handler that throws gets 500 and the connection is closed', async (t) => {
    const c = await raw(port);
    c.s.write('GET /throw HTTP/1.1\r\nHost: a\r\n\r\n');
    await c.closed;
    t.match(c.data(), /^HTTP\/1\.1 500 /);
  });

  await t.test('413 over the body limit, before reading the body', async (t) => {
    const c = await raw(port);
    c.s.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n');
    await c.closed;
    t.match(c.data(), /^HTTP\/1\.1 413 Content Too Large/);
    t.match(c.data(), /"too_large"/);
  });

  await t.test('a slow head gets 408, a silent idle connection is closed', async (t) => {
    const c = await raw(port);
    c.s.write('GET /x HTTP/1.1\r\nHo');
    const t0 = Date.now();
    await c.closed;
    t.match(c.data(), /^HTTP\/1\.1 408 /);
    t.comment(`head deadline hit after ${Date.now() - t0} ms (set 300)`);
    const idle = await raw(port);
    await idle.closed;
    t.equal(idle.data(), '', 'closed without an answer');
  });

  await t.test('a body that never completes gets 408', async (t) => {
    const c = await raw(port);
    c.s.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
    await c.closed;
    t.match(c.data(), /^HTTP\/1\.1 408 /);
  });

  await t.test('a held request is aborted when the client goes away', async (t) => {
    const c = await raw(port);
    c.s.write('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitUntil('the request held', () => held.length === 1);
    let aborted = false;
    held[0].res.onAbort(() => (aborted = true));
    c.s.destroy();
    t.ok(await until(() => aborted, 5000), 'the handler is told');
    t.ok(held[0].res.done);
    held.shift();
  });

  await t.test('garbage on the wire: an error answer or a close, never a crash', async (t) => {
    for (let i = 0; i < 30; i++) {
      const c = await raw(port);
      c.s.write(randomBytes(50 + i * 40));
      c.s.end();
      await c.closed;
    }
    const r = await fetch(`http://127.0.0.1:${port}/alive`);
    t.equal(await r.text(), 'GET /alive 0', 'still serving');
  });
});

/** A raw connection that never sends FIN by itself (half-open allowed), as a careless client. */
async function rawHalfOpen(port: number): Promise<{ s: Socket; data: () => string; closed: Promise<void>; isClosed: () => boolean }> {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let buf = '';
  let closed = false;
  s.setEncoding('latin1').on('data', (d) => (buf += d));
  const done = new Promise<void>((r) => s.once('close', () => ((closed = true), r())));
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  return { s, data: () => buf, closed: done, isClosed: () => closed };
}

t.test('socket lifecycle: linger after Connection: close, handler deadline, server errors, HEAD, close()', async (t) => {
  const held: { res: any; aborted: boolean }[] = [];
  const refused: number[] = [];
  const errors: Error[] = [];
  const srv = await serveHttp((req, res) => {
    if (req.path === '/hold') {
      const h = { res, aborted: false };
      res.onAbort(() => (h.aborted = true));
      held.push(h);
      return;
    }
    res.send(200, { 'Content-Type': 'text/plain' }, `${req.method} ${req.path}`);
  }, 0, '127.0.0.1', {
    headersTimeoutMs: 200, requestTimeoutMs: 300, keepAliveTimeoutMs: 5000, handlerTimeoutMs: 400, lingerMs: 300,
    onRefused: (status) => refused.push(status), onError: (e) => errors.push(e),
  });
  t.teardown(() => srv.close());
  const port = (srv.server.address() as { port: number }).port;

  await t.test('a client that never closes after Connection: close is destroyed after the linger', async (t) => {
    const c = await rawHalfOpen(port);
    c.s.write('GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await until(() => c.data().length > 0 && srv.connections === 0, 5000);
    t.equal(srv.connections, 0, 'the server destroyed its socket (no FIN from the client)');
    t.notOk(c.isClosed(), 'the client did keep its side open');
    t.match(c.data(), /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close/);
    c.s.destroy();
  });

  await t.test('a 408 to a client that stays half-open is sent and counted once', async (t) => {
    refused.length = 0;
    const c = await rawHalfOpen(port);
    c.s.write('GET /x HTTP/1.1\r\nHo');
    await until(() => c.data().length > 0 && srv.connections === 0, 5000);
    t.equal(srv.connections, 0, 'destroyed after the linger');
    await new Promise((r) => setTimeout(r, 300)); // more sweeps
    t.same(refused, [408], 'one refusal for one request');
    t.equal(c.data().match(/HTTP\/1\.1 408/g)?.length, 1, 'one answer on the wire');
    c.s.destroy();
  });

  await t.test('a handler that never answers: 503 at the handler deadline, the application told', async (t) => {
    const c = await raw(port);
    c.s.write('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n');
    await c.closed;
    t.match(c.data(), /^HTTP\/1\.1 503 /);
    t.match(c.data(), /"handler_timeout"/);
    t.equal(held.length, 1);
    t.ok(held[0].aborted, 'onAbort called, so a held poll is released');
    held.length = 0;
  });

  await t.test('HEAD: the head of GET, Content-Length included, no body', async (t) => {
    const c = await raw(port);
    c.s.write('HEAD /page HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await c.closed;
    const [first, second] = c.data().split(/(?=HTTP\/1\.1 )/);
    t.match(first, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 10\r\n\r\n$/, 'HEAD /page: the length of "HEAD /page", no body');
    t.match(second, /\r\n\r\nGET \/after$/, 'the next answer follows the head at once');
  });

  await t.test('a server error after listen is reported, not thrown; the server goes on', async (t) => {
    const e = Object.assign(new Error('accept failed'), { code: 'EMFILE' });
    srv.server.emit('error', e);
    t.same(errors, [e]);
    t.equal(await (await fetch(`http://127.0.0.1:${port}/still`)).text(), 'GET /still');
  });

  await t.test('close() waits only while something is left to drain', async (t) => {
    const quiet = await serveHttp((_req, res) => res.send(200, {}, 'ok'), 0, '127.0.0.1');
    let t0 = Date.now();
    await quiet.close(CLOSE_GRACE_MS);
    t.ok(Date.now() - t0 < CLOSE_GRACE_MS / 2, `nothing open: closed in ${Date.now() - t0} ms (grace ${CLOSE_GRACE_MS})`);
    // A request in its handler (kept alive) is answered during close: the connection ends with it.
    let inHandler = false;
    const busy = await serveHttp((_req, res) => ((inHandler = true), void setTimeout(() => res.send(200, {}, 'late'), 200)), 0, '127.0.0.1');
    const p = (busy.server.address() as { port: number }).port;
    const answer = fetch(`http://127.0.0.1:${p}/slow`).then((r) => r.text());
    await waitUntil('the request in its handler', () => inHandler && busy.connections === 1);
    t0 = Date.now();
    await busy.close(CLOSE_GRACE_MS);
    t.ok(Date.now() - t0 < CLOSE_GRACE_MS / 2, `one answer to drain: closed in ${Date.now() - t0} ms (grace ${CLOSE_GRACE_MS})`);
    t.equal(await answer, 'late');
  });
});

t.test('node:http adapter: chunked bodies bounded (413), errors reported, HEAD, close()', async (t) => {
  const { NodeHttpServer } = await import('../../src/chat/gateway/nodehttp.js');
  const errors: Error[] = [];
  const refused: number[] = [];
  const srv = new NodeHttpServer((req, res) => res.send(200, { 'Content-Type': 'text/plain' }, `${req.method} ${req.body.length}`), {
    onError: (e) => errors.push(e), onRefused: (s) => refused.push(s),
  });
  await srv.listen(0, '127.0.0.1');
  const port = (srv.server.address() as { port: number }).port;
  let closed = false;
  t.teardown(() => (closed ? undefined : srv.close()));
  const chunked = async (total: number) => {
    const c = await raw(port);
    c.s.write('POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    const piece = Buffer.alloc(8192, 0x61);
    for (let sent = 0; sent < total && !c.s.destroyed; sent += piece.length) c.s.write(`2000\r\n${piece.toString('latin1')}\r\n`);
    if (!c.s.destroyed) c.s.write('0\r\n\r\n');
    await c.closed;
    return c.data();
  };
  t.match(await chunked(32 * 1024), /^HTTP\/1\.1 200 [^]*POST 32768$/, 'a chunked body within the limit');
  t.match(await chunked(200 * 1024), /^HTTP\/1\.1 413 [^]*"too_large"/, 'a chunked body over 64 KiB: 413');
  t.same(refused, [413]);
  const head = await fetch(`http://127.0.0.1:${port}/h`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers.get('content-length'), '6', 'the length of "HEAD 0"');
  t.equal(await head.text(), '');
  const e = new Error('accept failed');
  srv.server.emit('error', e);
  t.same(errors, [e], 'reported, not thrown');
  const t0 = Date.now();
  await srv.close(CLOSE_GRACE_MS);
  closed = true;
  t.ok(Date.now() - t0 < CLOSE_GRACE_MS / 2, `closed in ${Date.now() - t0} ms (grace ${CLOSE_GRACE_MS})`);
});

/** A client that sends a closing GET /big and reads nothing (paused) until resumed. */
async function pausedGet(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.pause();
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write('GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  return s;
}

t.test('a Connection: close answer to a slow reader is written in full before the linger starts', async (t) => {
  const BODY = 24 * 1024 * 1024; // well past what the kernel buffers on loopback
  const body = Buffer.alloc(BODY, 0x61);
  const srv = await serveHttp((_req, res) => res.send(200, { 'Content-Type': 'text/plain' }, body), 0, '127.0.0.1', {
    headersTimeoutMs: 200, lingerMs: 200, lingerWriteMs: 1500,
  });
  t.teardown(() => srv.close(100));
  const port = (srv.server.address() as { port: number }).port;
  /** A client that reads nothing for `pauseMs`, then everything; resolves with the bytes it got. */
  const slowRead = async (pauseMs: number, during?: () => void): Promise<number> => {
    const s = await pausedGet(port);
    during?.();
    await new Promise((r) => setTimeout(r, pauseMs));
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.resume();
    await new Promise((r) => s.once('close', r));
    return n;
  };
  const headLen = (): number => Buffer.byteLength(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY}\r\nConnection: close\r\n\r\n`);

  await t.test('a reader that resumes after 4 x lingerMs gets the whole answer', async (t) => {
    t.equal(await slowRead(800), headLen() + BODY);
  });

  await t.test('close() gives a closing connection its grace', async (t) => {
    let answered = false;
    const srv2 = await serveHttp((_req, res) => ((answered = true), res.send(200, { 'Content-Type': 'text/plain' }, body)), 0, '127.0.0.1');
    const port2 = (srv2.server.address() as { port: number }).port;
    const s = await pausedGet(port2);
    // Answered: the connection is closing, the answer queued (the client reads nothing yet).
    await waitUntil('the request answered', () => answered && srv2.connections === 1);
    const closed = srv2.close(5000);
    await new Promise((r) => setTimeout(r, 400));
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.resume();
    await new Promise((r) => s.once('close', r));
    await closed;
    t.equal(n, headLen() + BODY, 'the whole answer, though close() started while it was queued');
  });

  await t.test('a client that never reads is destroyed at lingerWriteMs', async (t) => {
    const t0 = Date.now();
    const s = await pausedGet(port);
    await waitUntil('the connection accepted', () => srv.connections === 1);
    await until(() => srv.connections === 0, 10_000);
    t.equal(srv.connections, 0, `destroyed after ${Date.now() - t0} ms`);
    t.ok(Date.now() - t0 >= 1400, 'not before lingerWriteMs');
    s.destroy();
  });
});
