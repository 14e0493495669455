// TLS distribution against real erl nodes started with `-proto_dist inet_tls`
// and an ssl_dist option file (verify_peer both ways, fail_if_no_peer_cert),
// for every OTP variant present: we dial erl and erl dials us, with a message
// each way; a certificate from an unknown CA is refused on both sides, in both
// directions; a wrong cookie still fails with ERR_BAD_COOKIE over TLS.
import t from 'tap';
import { TLSSocket } from 'node:tls';
import { Harness, uniq } from './harness.js';
import { Pki, type Ca, type CertFiles } from './pki.js';
import { ctrl, liveHandshakes, type ControlMessage, type DistConnection, type DistError, type DistTlsOptions } from '../../src/dist/index.js';
import { atom, tuple, Pid, Tuple, type Term } from '../../src/etf/index.js';
import { otpVariants, startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';

// `echo` (test/erl/bb_dist_peer.erl): {From, Msg} -> From ! {echo, Msg};
// {From, connect, Node} -> From ! {connected, Node, net_kernel:connect_node(Node)};
// {_, to_name, Name, Node, Msg} -> {Name, Node} ! {from_erl, Msg}.
const ECHO = 'bb_dist_peer:start()';

const isTuple = (m: Term, tag: string): m is Tuple => m instanceof Tuple && m.at(0) === atom(tag);
const message = (m: ControlMessage): Term => (m as { message: Term }).message;

for (const v of otpVariants()) {
  t.test(`${v.label}: TLS distribution (inet_tls)`, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const pki = await Pki.create(t);
    const ca = await pki.ca('ca');
    const rogue = await pki.ca('rogue');
    const erlCert = await pki.leaf('erl', ca);
    const js = await pki.leaf('js', ca);
    const jsRogue = await pki.leaf('jsrogue', rogue);
    const tlsOf = (leaf: CertFiles, trust: Ca): DistTlsOptions => ({ ca: trust.cert, cert: leaf.cert, key: leaf.key });
    const good = tlsOf(js, ca);

    const erlName = `tls${vtag}@127.0.0.1`;
    const erlTls = await pki.erlArgs(t, vtag, erlCert, ca, v.root);
    await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, root: v.root, args: erlTls, eval: ECHO, modules: [erlModule('bb_dist_peer')] });

    // Our control connection to erl, over TLS: we dial it and exchange a message.
    const h1 = await Harness.start(t, { name: `tlsa${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort, tls: good });
    const c = await h1.connect(erlName);
    const me = new Pid(atom(h1.o.name), 1, 0, h1.creation);
    const ask = async (conn: DistConnection, msg: Term, tag: string): Promise<Tuple> => {
      conn.sendSignal(ctrl.regSend(me, atom('echo'), msg));
      return message(await h1.next(conn, (m) => m.kind === 'send' && isTuple(message(m), tag))) as Tuple;
    };
    /** erl's net_kernel:connect_node(Node) over TLS. */
    const erlConnects = async (node: string): Promise<boolean> => {
      const r = await ask(c, tuple(me, atom('connect'), atom(node)), 'connected');
      return r.at(2) === true;
    };

    t.test('Node dials TLS erl; messages both ways', async (t) => {
      t.ok(c.socket instanceof TLSSocket, `over TLS (${(c.socket as TLSSocket).getProtocol()})`);
      t.ok((c.socket as TLSSocket).authorized, "erl's certificate verified");
      const r = await ask(c, tuple(me, tuple(atom('hello'), [1, 2, 3], Buffer.alloc(100_000, 9))), 'echo');
      t.same(r.at(1), tuple(atom('hello'), [1, 2, 3], Buffer.alloc(100_000, 9)), 'a 100 KB message went there and back');
    });

    t.test('TLS erl dials Node; messages both ways', async (t) => {
      const h2 = await Harness.start(t, { name: `tlsb${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort, tls: good });
      t.equal(await erlConnects(h2.o.name), true, 'net_kernel:connect_node over TLS returns true');
      await h2.until(() => h2.accepted.length === 1);
      const conn = h2.connections[0];
      t.ok(conn.socket instanceof TLSSocket, 'the accepted connection runs over TLS');
      t.match((conn.socket as TLSSocket).getPeerCertificate().subject, { CN: '127.0.0.1' }, "erl's client certificate seen");
      c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, atom('to_name'), atom('inbox'), atom(h2.o.name), 'hi')));
      const m = await h2.next(conn, (x) => x.kind === 'reg_send');
      t.match(m, { kind: 'reg_send', to: atom('inbox') });
      t.ok(isTuple(message(m), 'from_erl'), 'erl -> Node message');
      const me2 = new Pid(atom(h2.o.name), 1, 0, h2.creation);
      conn.sendSignal(ctrl.regSend(me2, atom('echo'), tuple(me2, 'back')));
      t.ok(isTuple(message(await h2.next(conn, (x) => x.kind === 'send')), 'echo'), 'Node -> erl on the connection erl made');
    });

    t.test('a certificate from an unknown CA is refused on both sides', async (t) => {
      // We dial, and do not trust erl's CA: we refuse erl.
      const h3 = await Harness.start(t, { name: `tlsc${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort, tls: tlsOf(js, rogue) });
      const e3 = (await h3.dial(erlName).catch((e: DistError) => e)) as DistError;
      t.equal(e3.code, 'ERR_TLS', `we refuse erl's certificate: ${e3.message}`);

      // We dial with a certificate erl does not trust: erl refuses us.
      const h4 = await Harness.start(t, { name: `tlsd${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort, tls: tlsOf(jsRogue, ca) });
      const e4 = (await h4.dial(erlName).catch((e: DistError) => e)) as DistError;
      t.equal(e4.code, 'ERR_TLS', `erl refuses our certificate: ${e4.message}`);

      // erl dials us, and we do not trust its CA: we refuse erl.
      const h5 = await Harness.start(t, { name: `tlse${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort, tls: tlsOf(js, rogue) });
      t.equal(await erlConnects(h5.o.name), false, 'connect_node fails');
      await h5.until(() => h5.acceptErrors.length >= 1);
      t.match(h5.acceptErrors[0], { code: 'ERR_TLS' }, `we refuse erl's client certificate: ${h5.acceptErrors[0].message}`);

      // erl dials us, and we present a certificate erl does not trust: erl refuses us.
      const h6 = await Harness.start(t, { name: `tlsf${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort, tls: tlsOf(jsRogue, ca) });
      t.equal(await erlConnects(h6.o.name), false, 'connect_node fails');
      await h6.until(() => h6.acceptErrors.length >= 1);
      t.match(h6.acceptErrors[0], { code: 'ERR_TLS' }, `erl refuses our server certificate: ${h6.acceptErrors[0].message}`);
      t.equal(h5.connections.length + h6.connections.length, 0, 'no connection from refused peers');
    });

    t.test('a wrong cookie still fails over TLS, both directions', async (t) => {
      const h7 = await Harness.start(t, { name: `tlsg${vtag}@127.0.0.1`, cookie: 'wrong', epmdPort, tls: good });
      await t.rejects(h7.dial(erlName), { code: 'ERR_BAD_COOKIE' }, 'we dial with a wrong cookie');
      const h8 = await Harness.start(t, { name: `tlsh${vtag}@127.0.0.1`, cookie: 'wrong', epmdPort, tls: good });
      t.equal(await erlConnects(h8.o.name), false, 'erl dials us with a different cookie: connect_node fails');
      await h8.until(() => h8.acceptErrors.length >= 1);
      t.match(h8.acceptErrors[0], { code: 'ERR_BAD_COOKIE', peer: erlName });
      t.equal(h8.connections.length, 0);
    });

    t.test('nothing left behind', async (t) => {
      t.notOk(c.closed, 'the control connection survived every refusal');
      t.equal(liveHandshakes(), 0, 'no handshake in progress');
    });
  });
}
