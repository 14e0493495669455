// TLS distribution at node level, against real erl nodes started with
// `-proto_dist inet_tls` (verify_peer both ways, fail_if_no_peer_cert), for
// every OTP variant present: Node.start({ tls }) dials a TLS erl (ping, rpc,
// a message each way) and a TLS erl dials the node (net_adm:ping, erpc into
// it); a node whose certificate comes from another CA is refused, and the
// cookie is still checked over TLS.
import t from 'tap';
import { TLSSocket } from 'node:tls';
import { Node } from '../../src/otp/index.js';
import type { DistTlsOptions } from '../../src/dist/index.js';
import { atom, tuple, type Term } from '../../src/etf/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { variantsSideBySide } from '../helpers/otp.js';
import { Pki, type Ca, type CertFiles } from '../dist/pki.js';
import { PEER_EVAL, PEER_MODULES, evalErl, isTuple } from '../node/peer.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;

// Each variant has its own epmd, node names and erl: they run side by side (mostly waiting on erl).
for (const v of variantsSideBySide(t)) {
  t.test(`${v.label}: TLS distribution at node level`, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const pki = await Pki.create(t);
    const ca = await pki.ca('ca');
    const rogue = await pki.ca('rogue');
    const tlsOf = (leaf: CertFiles, trust: Ca): DistTlsOptions => ({ ca: trust.cert, cert: leaf.cert, key: leaf.key });
    const good = tlsOf(await pki.leaf('js', ca), ca);
    const erlName = `tlsn${vtag}@127.0.0.1`;
    const erlTls = await pki.erlArgs(t, `n${vtag}`, await pki.leaf('erl', ca), ca, v.root);
    await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, root: v.root, args: erlTls, eval: PEER_EVAL, modules: PEER_MODULES });

    const node = await Node.start({ name: `jstls${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, tls: good });
    t.teardown(() => node.stop());
    node.expose('tls_js', { hello: (x) => tuple(atom('hello_from_js'), x) });
    const me = node.spawn({ name: 'tls_me' });

    t.test('Node dials the TLS erl', async (t) => {
      t.equal(await node.ping(erlName), true, 'pong over TLS');
      const c = node.connection(erlName)!;
      t.ok(c.socket instanceof TLSSocket && (c.socket as TLSSocket).authorized, `TLS, the peer verified (${(c.socket as TLSSocket).getProtocol()})`);
      t.equal(c.initiator, true);
      t.same(await node.rpc(erlName, 'lists', 'reverse', [[1, 2, 3]], { timeoutMs: 10_000 }), [3, 2, 1], 'rpc over TLS');
      const big = Buffer.alloc(200_000, 3);
      t.same(await evalErl(node, me, erlName, '{byte_size(B), node()}.', { B: big }), tuple(200_000, atom(erlName)), 'a 200 KB message there, an answer back');
    });

    t.test('the TLS erl dials Node', async (t) => {
      const name = `tlsd${vtag}@127.0.0.1`;
      const tls2 = await pki.erlArgs(t, `d${vtag}`, await pki.leaf('erl2', ca), ca, v.root);
      const up = new Promise<void>((resolve) => node.on('nodeup', (p) => p === name && resolve()));
      const dialer = await startErlNode(t, {
        name,
        cookie: 'cookie',
        epmdPort,
        root: v.root,
        args: tls2,
        eval: `io:format("PING ~p~n", [net_adm:ping('${node.name}')]), io:format("ERPC ~p~n", [catch erpc:call('${node.name}', tls_js, hello, [1], 10000)]), {tls_me, '${node.name}'} ! {from_tls_erl, node()}`,
      });
      t.equal(await dialer.waitForLine(/^PING /), 'PING pong');
      await up;
      const c = node.connection(name)!;
      t.equal(c.initiator, false, 'accepted');
      t.ok(c.socket instanceof TLSSocket, 'over TLS');
      t.equal(await dialer.waitForLine(/^ERPC /), 'ERPC {hello_from_js,1}', 'erpc into Node over TLS');
      const m = (await me.receive({ timeoutMs: 10_000, match: (x: Term) => isTuple(x, 'from_tls_erl') })) as Term;
      t.same(m, tuple(atom('from_tls_erl'), atom(name)), 'a message from the TLS erl');
      await dialer.stop();
    });

    t.test('certificates and the cookie are checked', async (t) => {
      const stranger = await Node.start({
        name: `jsrogue${vtag}@127.0.0.1`,
        cookie: 'cookie',
        epmd: { port: epmdPort },
        tls: tlsOf(await pki.leaf('jsrogue', rogue), rogue),
      });
      t.teardown(() => stranger.stop());
      await t.rejects(stranger.connect(erlName), { code: 'ERR_TLS' }, 'a certificate from another CA is refused');
      t.equal(await stranger.ping(erlName), false);
      const wrongCookie = await Node.start({ name: `jscookie${vtag}@127.0.0.1`, cookie: 'wrong', epmd: { port: epmdPort }, tls: good });
      t.teardown(() => wrongCookie.stop());
      await t.rejects(wrongCookie.connect(erlName), { code: 'ERR_BAD_COOKIE' }, 'the cookie is still checked over TLS');
      t.equal(await evalErl(node, me, erlName, 'net_adm:ping(N).', { N: atom(wrongCookie.name) }), atom('pang'), 'and erl dialing with another cookie gets pang');
      const plain = await Node.start({ name: `jsplain${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort } });
      t.teardown(() => plain.stop());
      t.equal(await plain.ping(erlName), false, 'a node without TLS cannot talk to a TLS erl');
      // Issue 15: it says why (the TLS erl's alert read as a handshake length used to read "handshake message length 5379").
      const pang = await plain.pingDetail(erlName);
      t.match(pang, { pong: false, reason: { code: 'ERR_TLS', message: /peer speaks TLS distribution and this node does not/ } }, 'pang: the peer speaks TLS');
      await t.rejects(plain.rpc(erlName, 'erlang', 'node', [], { timeoutMs: 5000 }), { code: 'ERR_TLS', message: /peer speaks TLS/ }, 'rpc fails with ERR_TLS, the root cause');
      t.comment(`plain -> TLS erl: ${pang.pong ? '' : pang.reason.message}`);
    });

    t.test('a TLS node dialing a plain erl says the peer may not speak TLS', async (t) => {
      const plainErl = `tlsplain${vtag}@127.0.0.1`;
      await startErlNode(t, { name: plainErl, cookie: 'cookie', epmdPort, root: v.root });
      const quick = await Node.start({ name: `jsq${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, tls: good, setupTimeoutMs: 1500 });
      t.teardown(() => quick.stop());
      const r = await quick.pingDetail(plainErl);
      t.match(r, { pong: false, reason: { message: /does not speak TLS/ } }, 'pang, and why');
      t.comment(`TLS -> plain erl: ${r.pong ? '' : `${r.reason.code} ${r.reason.message}`}`);
    });
  });
}
