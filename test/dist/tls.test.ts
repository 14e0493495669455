// TLS distribution between two in-process endpoints: both directions, frames
// and ticks over TLS, TCP options on the socket under TLS, certificate checks
// on by default (unknown CA both ways, no client certificate, host mismatch,
// optional client-host check), the cookie still checked, and deadlines.
import t from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import NetKeepAlive from 'net-keepalive';
import { Harness, uniq } from './harness.js';
import { Pki } from './pki.js';
import { until } from '../helpers/until.js';
import { ctrl, liveHandshakes, type DistError, type DistTlsOptions } from '../../src/dist/index.js';
import { atom, tuple, Pid } from '../../src/etf/index.js';

const NAME = (s: string) => `${s}${uniq}@127.0.0.1`;

t.test('TLS distribution in process', async (t) => {
  const pki = await Pki.create(t);
  const ca = await pki.ca('ca1');
  const rogue = await pki.ca('rogue');
  const a = await pki.leaf('a', ca);
  const b = await pki.leaf('b', ca);
  const r = await pki.leaf('r', rogue);
  const elsewhere = await pki.leaf('elsewhere', ca, { san: 'DNS:other.example', cn: 'other.example' });
  const opts = (leaf: typeof a, trust = ca, extra: Partial<DistTlsOptions> = {}): DistTlsOptions => ({
    ca: trust.cert,
    cert: leaf.cert,
    key: leaf.key,
    ...extra,
  });

  t.test('both directions: handshake, messages and ticks run over TLS', async (t) => {
    const tickTimeMs = 1200;
    const server = await Harness.start(t, { name: NAME('tsrv'), cookie: 'c', tls: opts(a), connection: { tickTimeMs } });
    const client = await Harness.start(t, { name: NAME('tcli'), cookie: 'c', tls: opts(b), connection: { tickTimeMs } });
    const c = await client.connect(server.o.name, { port: server.port });
    await server.until(() => server.connections.length === 1);
    const s = server.connections[0];
    t.ok(c.socket instanceof TLSSocket && s.socket instanceof TLSSocket, 'both ends run over a TLSSocket');
    t.not(c.tcpSocket, c.socket, 'the TCP socket is kept apart');
    t.equal(NetKeepAlive.getUserTimeout(c.tcpSocket), tickTimeMs, 'TCP_USER_TIMEOUT set on the TCP socket under TLS');
    t.equal(NetKeepAlive.getUserTimeout(s.tcpSocket), tickTimeMs);
    const tlsSock = c.socket as TLSSocket;
    t.ok(tlsSock.authorized, `server certificate verified (${tlsSock.getProtocol()})`);
    t.match((s.socket as TLSSocket).getPeerCertificate().subject, { CN: '127.0.0.1' }, 'client certificate seen by the server');
    const from = new Pid(atom(client.o.name), 1, 0, client.creation);
    const to = new Pid(atom(server.o.name), 1, 0, server.creation);
    c.sendSignal(ctrl.regSend(from, atom('svc'), tuple(atom('hello'), Buffer.alloc(200_000, 7))));
    const m = await server.next(s, (x) => x.kind === 'reg_send');
    t.match(m, { kind: 'reg_send', to: atom('svc'), from });
    s.sendSignal(ctrl.send(from, 'back'));
    t.match(await client.next(c, (x) => x.kind === 'send'), { kind: 'send', to: from, message: Buffer.from('back') });
    // Ticks keep an idle TLS connection up past the ticktime.
    await new Promise((r) => setTimeout(r, tickTimeMs * 2));
    t.notOk(c.closed || s.closed, 'idle TLS connection kept up by ticks');
    t.ok(c.stats.ticksIn >= 1 && s.stats.ticksIn >= 1, `ticks over TLS (${c.stats.ticksIn}, ${s.stats.ticksIn})`);
    void to;
    c.close();
    t.match(await new Promise((res) => (s.closed ? res(s.reason) : s.once('close', res))), { code: 'ERR_CONNECTION_CLOSED' });
    t.equal(liveHandshakes(), 0, 'no handshake left in progress');
  });

  t.test('certificates are checked by default', async (t) => {
    const server = await Harness.start(t, { name: NAME('tchk'), cookie: 'c', tls: opts(a) });
    const dial = (name: string, tls: DistTlsOptions) =>
      Harness.start(t, { name: NAME(name), cookie: 'c', tls }).then((h) => h.dial(server.o.name, { port: server.port }));

    // We do not trust the server's CA: our side refuses it.
    const e1 = (await dial('tca', opts(b, rogue)).catch((e: DistError) => e)) as DistError;
    t.equal(e1.code, 'ERR_TLS', `unknown server CA refused: ${e1.message}`);
    await server.until(() => server.acceptErrors.length >= 1);

    // The server does not trust our CA: it refuses us.
    const e2 = (await dial('tcb', opts(r, ca)).catch((e: DistError) => e)) as DistError;
    t.equal(e2.code, 'ERR_TLS', `client from an unknown CA refused: ${e2.code} ${e2.message}`);
    await server.until(() => server.acceptErrors.length >= 2);
    t.match(server.acceptErrors[1], { code: 'ERR_TLS', message: /client certificate refused|failed/ }, server.acceptErrors[1].message);

    // No client certificate at all.
    const e3 = (await dial('tcc', { ca: ca.cert }).catch((e: DistError) => e)) as DistError;
    t.equal(e3.code, 'ERR_TLS', `client without a certificate refused: ${e3.code}`);
    await server.until(() => server.acceptErrors.length >= 3);
    t.match(server.acceptErrors[2], { code: 'ERR_TLS' }, server.acceptErrors[2].message);

    // A server certificate for another host: the identity check refuses it.
    const other = await Harness.start(t, { name: NAME('tho'), cookie: 'c', tls: opts(elsewhere) });
    const h = await Harness.start(t, { name: NAME('thc'), cookie: 'c', tls: opts(b) });
    const e4 = (await h.dial(other.o.name, { port: other.port }).catch((e: DistError) => e)) as DistError;
    t.equal(e4.code, 'ERR_TLS', `host mismatch refused: ${e4.message}`);
    t.match(e4.message, /127\.0\.0\.1|altnames|IP/i);

    // Same, with the identity check turned off by the user: it connects.
    const lax = await Harness.start(t, {
      name: NAME('thl'),
      cookie: 'c',
      tls: opts(b, ca, { client: { checkServerIdentity: () => undefined } }),
    });
    const ok = await lax.dial(other.o.name, { port: other.port });
    t.equal(ok.peer, other.o.name, 'checkServerIdentity override honoured');
    ok.socket.destroy();

    // verifyClientHost: a client whose certificate is for another host is not_allowed.
    const strict = await Harness.start(t, { name: NAME('tst'), cookie: 'c', tls: opts(a, ca, { verifyClientHost: true }) });
    const wrongHost = await Harness.start(t, { name: NAME('twh'), cookie: 'c', tls: opts(elsewhere) });
    await t.rejects(wrongHost.dial(strict.o.name, { port: strict.port }), { code: 'ERR_HANDSHAKE_REFUSED' });
    await strict.until(() => strict.acceptErrors.length === 1);
    t.match(strict.acceptErrors[0], { code: 'ERR_TLS', message: /does not match its host/ });
    const rightHost = await Harness.start(t, { name: NAME('trh'), cookie: 'c', tls: opts(b) });
    const good = await rightHost.dial(strict.o.name, { port: strict.port });
    t.equal(good.peer, strict.o.name, 'a client whose certificate matches its host is accepted');
    good.socket.destroy();

    t.equal(server.connections.length, 0, 'nothing accepted from refused peers');
  });

  t.test('the cookie is still checked over TLS', async (t) => {
    const server = await Harness.start(t, { name: NAME('tck'), cookie: 'right', tls: opts(a) });
    const h = await Harness.start(t, { name: NAME('tcw'), cookie: 'wrong', tls: opts(b) });
    await t.rejects(h.dial(server.o.name, { port: server.port }), { code: 'ERR_BAD_COOKIE' });
    await server.until(() => server.acceptErrors.length === 1);
    t.match(server.acceptErrors[0], { code: 'ERR_BAD_COOKIE' });
  });

  t.test('TLS and plain TCP do not mix; deadlines hold before TLS is up', async (t) => {
    const server = await Harness.start(t, { name: NAME('tmx'), cookie: 'c', tls: opts(a), timeoutMs: 600 });
    // A plain-TCP node dials the TLS node.
    const plain = await Harness.start(t, { name: NAME('tpl'), cookie: 'c', timeoutMs: 2000 });
    const e = (await plain.dial(server.o.name, { port: server.port }).catch((x: DistError) => x)) as DistError;
    t.match(e.code, /^ERR_(CONNECTION_CLOSED|HANDSHAKE_PROTOCOL|HANDSHAKE_TIMEOUT|TLS)$/, `plain dialer fails: ${e.code} ${e.message}`);
    await server.until(() => server.acceptErrors.length === 1);
    t.match(server.acceptErrors[0], { code: 'ERR_TLS' }, `TLS node refuses cleartext: ${server.acceptErrors[0].message}`);

    // A peer that connects and never starts TLS is dropped at the deadline.
    const s: Socket = connect({ port: server.port, host: '127.0.0.1' });
    s.on('error', () => {});
    await once(s, 'connect');
    await server.until(() => server.acceptErrors.length === 2);
    t.match(server.acceptErrors[1], { code: 'ERR_HANDSHAKE_TIMEOUT' });
    if (!s.destroyed) await once(s, 'close');
    t.pass('the silent peer was disconnected');

    // A TLS dialer against a plain node.
    const plainSrv = await Harness.start(t, { name: NAME('tps'), cookie: 'c', timeoutMs: 600 });
    const tlsCli = await Harness.start(t, { name: NAME('ttc'), cookie: 'c', tls: opts(b), timeoutMs: 2000 });
    const e2 = (await tlsCli.dial(plainSrv.o.name, { port: plainSrv.port }).catch((x: DistError) => x)) as DistError;
    t.match(e2.code, /^ERR_(TLS|HANDSHAKE_TIMEOUT)$/, `TLS dialer against a plain node fails: ${e2.code} ${e2.message}`);
    await plainSrv.until(() => plainSrv.acceptErrors.length === 1);
    t.match(plainSrv.acceptErrors[0], { code: 'ERR_TLS', message: /peer speaks TLS/ }, `the plain node says the peer speaks TLS: ${plainSrv.acceptErrors[0].message}`);
    t.match(e2.message, /does not speak TLS/, 'and the TLS dialer says the peer may not speak TLS');
    await until(() => liveHandshakes() === 0);
    t.equal(liveHandshakes(), 0, 'no handshake left in progress');
  });

  t.test('unusable TLS settings fail the handshake with ERR_TLS', async (t) => {
    const junk: DistTlsOptions = { cert: Buffer.from('not a certificate'), key: Buffer.from('not a key') };
    const server = await Harness.start(t, { name: NAME('tjs'), cookie: 'c', tls: junk });
    const h = await Harness.start(t, { name: NAME('tjc'), cookie: 'c', tls: opts(b) });
    await t.rejects(h.dial(server.o.name, { port: server.port }), { code: 'ERR_TLS' }, 'the dialer sees the refusal');
    await server.until(() => server.acceptErrors.length === 1);
    t.match(server.acceptErrors[0], { code: 'ERR_TLS', message: /TLS setup failed/ });
    const bad = await Harness.start(t, { name: NAME('tjd'), cookie: 'c', tls: junk });
    const good = await Harness.start(t, { name: NAME('tjg'), cookie: 'c', tls: opts(a) });
    await t.rejects(bad.dial(good.o.name, { port: good.port }), { code: 'ERR_TLS', message: /TLS setup failed/ });
    await good.until(() => good.acceptErrors.length === 1);
    t.match(good.acceptErrors[0], { code: 'ERR_TLS' }, 'the other side saw the socket close during TLS');
    t.equal(liveHandshakes(), 0);
  });

  t.test('abort during the TLS step', async (t) => {
    // A server that accepts TCP and never answers the TLS ClientHello.
    const silent = createServer((sock) => {
      sock.on('error', () => {});
      sock.resume(); // read (and drop) the ClientHello, so that the close is seen
      closedSockets.push(once(sock, 'close'));
    });
    const closedSockets: Promise<unknown>[] = [];
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    t.teardown(() => silent.close());
    const port = (silent.address() as { port: number }).port;
    const h = await Harness.start(t, { name: NAME('tac'), cookie: 'c', tls: opts(b) });
    const ac = new AbortController();
    const p = h.dial(NAME('tab'), { port, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 200);
    await t.rejects(p, { code: 'ERR_ABORTED' });
    await Promise.all(closedSockets);
    t.equal(closedSockets.length, 1, 'the socket was closed on abort');
    t.equal(liveHandshakes(), 0);
  });
});
