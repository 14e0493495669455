// Atom-cache sending against real erl (OTP 25, and 27 / 29 when their roots
// exist): a beambridge node sends with the atom cache (the default), an erl
// node echoes what it decoded (test/erl/bb_echo.erl), and every term comes
// back equal, through new entries, old references, more atoms than slots,
// more than 255 atoms in one message, long atoms and fragmented messages.
import t from 'tap';
import { Node } from '../../src/otp/index.js';
import { Tuple, atom, termEquals, tuple, type Term } from '../../src/etf/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
for (const v of variantsSideBySide(t)) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `ace${vtag}@127.0.0.1`;
    await startErlNode(t, { name: erlName, cookie: 'c', epmdPort, root: v.root, modules: [erlModule('bb_echo')], eval: 'ok = bb_echo:start()' });
    const node = await Node.start({ name: `acj${vtag}@127.0.0.1`, cookie: 'c', epmd: { port: epmdPort }, lossless: true });
    t.teardown(() => node.stop());
    const p = node.spawn();
    const roundTrip = async (term: Term): Promise<Term> => {
      p.send({ name: 'echo', node: erlName }, tuple(p.pid, term));
      const m = (await p.receive({ timeoutMs: 30_000, match: (x) => x instanceof Tuple && x.elements[0] === atom('echoed') })) as Tuple;
      return m.elements[1];
    };

    const chat = tuple(atom('chat_msg'), 1001, Buffer.from('hello'), [atom('alice'), atom('bob')], new Map([[atom('seq'), 7]]));
    for (let i = 0; i < 3; i++) t.ok(termEquals(await roundTrip(chat), chat), `chat message ${i + 1}`);
    const conn = node.connection(erlName)!;
    t.ok(conn.atomCacheEntriesSent >= 7, `the atoms went into erl's cache (${conn.atomCacheEntriesSent} entries)`);

    // Many atoms: 2500 messages over 3000 distinct atoms (more than the 2048 slots).
    const pool = Array.from({ length: 3000 }, (_, i) => atom(`ac_${v.root ? 'r' : 's'}_${i}`));
    const sent: Term[] = [];
    for (let i = 0; i < 2500; i++) {
      const m = tuple(pool[i], pool[(i * 7) % 3000], pool[(i * 13 + 5) % 3000], i);
      sent.push(m);
      p.send({ name: 'echo', node: erlName }, tuple(p.pid, m));
    }
    let bad = 0;
    for (const m of sent) {
      const r = (await p.receive({ timeoutMs: 30_000, match: (x) => x instanceof Tuple && x.elements[0] === atom('echoed') })) as Tuple;
      if (!termEquals(r.elements[1], m)) bad++;
    }
    t.equal(bad, 0, '2500 messages over 3000 atoms, each echoed as sent (in order)');
    t.ok(conn.atomCacheEntriesSent > 2048, `slots reused (${conn.atomCacheEntriesSent} entries)`);

    const many = pool.slice(0, 400);
    t.ok(termEquals(await roundTrip(many), many), '400 distinct atoms in one message (255 references, the rest in full)');
    const long = tuple(atom('é'.repeat(255)), atom('ünïcödé'), atom(''));
    t.ok(termEquals(await roundTrip(long), long), 'long UTF-8 atoms (2-byte lengths in the header)');
    t.ok(termEquals(await roundTrip(long), long), 'and again, as references');
    const big = tuple(atom('bulk'), Buffer.alloc(300_000, 3), pool.slice(2000, 2100), chat);
    t.ok(termEquals(await roundTrip(big), big), 'a fragmented message whose first fragment carries the header');
  });
}
