// The dist layer against real erl nodes, for every OTP variant present:
// handshakes both ways (NAME_ME, bad cookies, alive, simultaneous connect),
// messages both ways at the frame level (REG_SEND and SEND), atom-cache
// headers and fragments from OTP, and 64 MB binaries each way.
import t from 'tap';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Harness, uniq } from './harness.js';
import { ctrl, resolveSimultaneous, DFLAG } from '../../src/dist/index.js';
import { atom, tuple, Pid, Tuple, type Term } from '../../src/etf/index.js';
import { erlCommand, startEpmd, startErlNode, startProcess } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';

// The erl side: `echo` answers {From, Msg} with {echo, Msg}; {From, blob, N}
// with a binary of N bytes and its MD5; {From, size, Bin} with Bin's size and
// MD5; {_, to_name, Name, Node, Msg} sends {from_erl, Msg} to {Name, Node}.
// Node events are printed as "EV ...".
const ECHO = 'bb_dist_peer:start()';
const ECHO_MODULES = [erlModule('bb_dist_peer')];

const isTuple = (m: Term, tag: string): m is Tuple => m instanceof Tuple && m.at(0) === atom(tag);
const md5 = (b: Buffer) => createHash('md5').update(b).digest();

for (const v of variantsSideBySide(t)) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `mmm${vtag}@127.0.0.1`;
    const erl = await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, eval: ECHO, modules: ECHO_MODULES, root: v.root });

    t.test('Node dials erl; messages both ways; NAME_ME; alive', async (t) => {
      const h = await Harness.start(t, { name: `jsd${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort });
      const c = await h.connect(erlName);
      t.equal(c.peer, erlName);
      t.ok((c.flags & DFLAG.FRAGMENTS) !== 0n && (c.flags & DFLAG.DIST_HDR_ATOM_CACHE) !== 0n, 'fragments and atom cache negotiated');
      await erl.waitForLine(new RegExp(`^EV \\{nodeup,'jsd${vtag}@127.0.0.1',\\[\\{node_type,hidden\\}\\]\\}`));
      const me = new Pid(atom(h.o.name), 1, 0, h.creation);

      // REG_SEND to a registered erl process; it prints and answers with SEND.
      c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, tuple(atom('hello'), [1, 2, 3], Buffer.from('bin'), 3.5))));
      const reply = await h.next(c, (m) => m.kind === 'send');
      t.match(reply, { kind: 'send', to: me });
      t.ok(isTuple((reply as { message: Term }).message, 'echo'));
      await erl.waitForLine(/^GOT \{hello,\[1,2,3\],<<"bin">>,3\.5\}$/);

      // erl's `{Name, Node} ! Msg` reaches us as REG_SEND.
      c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, atom('to_name'), atom('some_name'), atom(h.o.name), 'x')));
      const reg = await h.next(c, (m) => m.kind === 'reg_send');
      t.match(reg, { kind: 'reg_send', to: atom('some_name') });
      t.ok((reg as { from: Pid }).from instanceof Pid);

      // 500 KB from OTP: fragments of a message whose header uses the atom cache.
      const before = { ...c.frameCounters };
      c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, atom('blob'), 500 * 1024)));
      const blob = (await h.next(c, (m) => m.kind === 'send' && isTuple((m as { message: Term }).message, 'blob'))) as {
        message: Tuple;
      };
      t.equal((blob.message.at(1) as Buffer).length, 500 * 1024);
      t.same(md5(blob.message.at(1) as Buffer), blob.message.at(2), 'content intact');
      const after = c.frameCounters;
      t.ok(after.fragmentConts - before.fragmentConts >= 7, `${after.fragmentConts - before.fragmentConts} continuation fragments`);
      t.ok(after.cacheRefs > 0 && after.newCacheEntries > 0, `atom cache used (${after.cacheRefs} refs, ${after.newCacheEntries} new)`);

      // A second dial while connected: erl answers alive, we say the old one is stale.
      const c2 = await h.connect(erlName);
      t.equal(h.accepted.length, 0);
      await new Promise((r) => (c.closed ? r(null) : c.once('close', r)));
      t.ok(c.closed, 'the old connection is dropped by erl');
      c2.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, 'again')));
      t.ok(isTuple(((await h.next(c2, (m) => m.kind === 'send')) as { message: Term }).message, 'echo'), 'new connection works');

      // NAME_ME: erl names us.
      const hs = await h.dial(erlName, { name: '127.0.0.1', nameMe: true, creation: 0 });
      t.match(hs.name, /^[0-9A-Za-z]+@127\.0\.0\.1$/);
      t.equal(hs.status, 'named');
      t.ok(hs.creation > 0, `creation ${hs.creation}`);
      hs.socket.destroy();
      c2.close();
    });

    t.test('64 MB binaries each way', async (t) => {
      const h = await Harness.start(t, { name: `jsb${vtag}@127.0.0.1`, cookie: 'cookie', epmdPort });
      const c = await h.connect(erlName);
      const me = new Pid(atom(h.o.name), 2, 0, h.creation);
      const size = 64 * 1024 * 1024;
      c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, atom('blob'), size)));
      const got = (await h.next(c, (m) => m.kind === 'send' && isTuple((m as { message: Term }).message, 'blob'))) as {
        message: Tuple;
      };
      const bin = got.message.at(1) as Buffer;
      t.equal(bin.length, size, 'erl -> Node: 64 MB');
      t.same(md5(bin), got.message.at(2), 'erl -> Node: MD5');
      // And back, fragmented by our encoder.
      const out = Buffer.allocUnsafe(size);
      for (let i = 0; i < size; i += 4) out.writeUInt32BE((i * 2654435761) >>> 0, i);
      const ok = c.sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, atom('size'), out)));
      t.notOk(ok, 'a 64 MB message puts the connection over its busy limit');
      t.ok(c.bufferedBytes >= size, `${c.bufferedBytes} bytes buffered`);
      await once(c, 'drain');
      const sz = (await h.next(c, (m) => m.kind === 'send' && isTuple((m as { message: Term }).message, 'size'))) as {
        message: Tuple;
      };
      t.equal(sz.message.at(1), size, 'Node -> erl: 64 MB');
      t.same(sz.message.at(2), md5(out), 'Node -> erl: MD5');
      c.close();
    });

    t.test('erl dials Node; bad cookies both ways', async (t) => {
      const name = `jsa${vtag}@127.0.0.1`;
      const h = await Harness.start(t, { name, cookie: 'cookie', epmdPort });
      const dialer = await startErlNode(t, {
        name: `dialer${vtag}@127.0.0.1`,
        cookie: 'cookie',
        epmdPort,
        root: v.root,
        eval: `io:format("CONNECT ~p~n", [net_kernel:connect_node('${name}')]), {some_name, '${name}'} ! {hi, self()}`,
      });
      await dialer.waitForLine(/^CONNECT true$/);
      await h.until(() => h.accepted.length === 1);
      t.equal(h.accepted[0].peer, `dialer${vtag}@127.0.0.1`);
      t.ok((h.accepted[0].peerFlags & DFLAG.PUBLISHED) !== 0n, 'erl is a visible node');
      const c = h.connections[0];
      const m = await h.next(c, (x) => x.kind === 'reg_send');
      t.match(m, { kind: 'reg_send', to: atom('some_name') });

      // An erl without a name dials us with NAME_ME: we name it.
      const anon = await startProcess({
        ...erlCommand(
          [
            '-noshell', '-start_epmd', 'false', '-name', 'undefined@127.0.0.1', '-setcookie', 'cookie',
            '-eval', `R = net_kernel:connect_node('${name}'), io:format("ANON ~p ~p~n", [R, node()])`,
          ],
          v.root,
        ),
        env: { ERL_EPMD_PORT: String(epmdPort) },
        ready: /^ANON /,
        t,
      });
      const anonLine = await anon.waitForLine(/^ANON /);
      await h.until(() => h.accepted.length === 2);
      const named = h.accepted[1];
      t.equal(named.status, 'named');
      t.match(named.peer, /^[a-z]{12}@127\.0\.0\.1$/);
      t.equal(anonLine, `ANON true '${named.peer}'`, 'erl took the name we gave it');
      await anon.stop();

      // erl with the wrong cookie dials us: refused, typed error on our side.
      const bad = await startErlNode(t, {
        name: `badck${vtag}@127.0.0.1`,
        cookie: 'wrong',
        epmdPort,
        root: v.root,
        eval: `io:format("CONNECT ~p~n", [net_kernel:connect_node('${name}')])`,
      });
      await bad.waitForLine(/^CONNECT false$/);
      await h.until(() => h.acceptErrors.length >= 1);
      t.match(h.acceptErrors[0], { code: 'ERR_BAD_COOKIE', peer: `badck${vtag}@127.0.0.1` });
      t.equal(h.connections.length, 2, 'nothing kept for the refused peer');

      // We dial erl with the wrong cookie.
      const h2 = await Harness.start(t, { name: `jsw${vtag}@127.0.0.1`, cookie: 'nope', epmdPort });
      await t.rejects(h2.dial(erlName), { code: 'ERR_BAD_COOKIE' });
      // Unknown node: pang.
      await t.rejects(h2.dial(`nobody${vtag}@127.0.0.1`), { code: 'ERR_NODE_NOT_FOUND' });
    });

    t.test('simultaneous connect with erl, both name orders', async (t) => {
      for (const [prefix, i] of [
        ['aaa', 1],
        ['zzz', 2],
      ] as const) {
        const sim = `sim${i}${vtag}@127.0.0.1`;
        const ours = `${prefix}${i}${vtag}@127.0.0.1`;
        let dialed: Promise<unknown> | undefined;
        let dialOutcome: string | undefined;
        const h: Harness = await Harness.start(t, {
          name: ours,
          cookie: 'cookie',
          epmdPort,
          // When erl's own dial arrives, dial erl back before answering it.
          decide: async (peer, dflt) => {
            if (peer.name !== sim || dialed) return dflt;
            dialed = h.connect(sim).then(
              () => (dialOutcome = 'connected'),
              (e: { code?: string }) => (dialOutcome = e.code),
            );
            await dialed;
            return resolveSimultaneous(ours, sim);
          },
        });
        const simNode = await startErlNode(t, {
          name: sim,
          cookie: 'cookie',
          epmdPort,
          root: v.root,
          eval: `${ECHO}, io:format("CONNECT ~p~n", [net_kernel:connect_node('${ours}')])`,
          modules: ECHO_MODULES,
        });
        await simNode.waitForLine(/^CONNECT true$/);
        await h.until(() => dialOutcome !== undefined && h.accepted.length + h.acceptErrors.length >= 1);
        if (ours > sim) {
          t.equal(dialOutcome, 'connected', `${ours} > ${sim}: our dial wins (erl said ok_simultaneous)`);
          t.equal(h.accepted.length, 0, "erl's dial was refused with nok");
        } else {
          t.equal(dialOutcome, 'ERR_HANDSHAKE_SIMULTANEOUS', `${ours} < ${sim}: erl said nok to our dial`);
          t.equal(h.accepted.length, 1, "erl's dial was accepted with ok_simultaneous");
          t.equal(h.accepted[0].status, 'ok_simultaneous');
        }
        const live = h.connections.filter((c) => !c.closed);
        t.equal(live.length, 1, 'exactly one connection');
        const me = new Pid(atom(ours), 3, 0, h.creation);
        live[0].sendSignal(ctrl.regSend(me, atom('echo'), tuple(me, 'through the survivor')));
        t.ok(isTuple(((await h.next(live[0], (m) => m.kind === 'send')) as { message: Term }).message, 'echo'));
        await h.stop();
        await simNode.stop();
      }
    });
  });
}
