// Short node names and the embedded EPMD, against real erl (every OTP variant present):
// a short-named Node and an `erl -sname` node reach each other both ways;
// erl registers with beambridge's embedded EPMD, `epmd -names` lists both
// nodes, and pings work both ways.
import t from 'tap';
import { execFile } from 'node:child_process';
import { Node } from '../../src/otp/index.js';
import { parseNodeName, shortHostname } from '../../src/node/index.js';
import { atom } from '../../src/etf/index.js';
import { startEpmd, startErlNode, freePort } from '../../src/testing/index.js';
import { PEER_EVAL, PEER_MODULES, evalErl } from './peer.js';
import { variantsSideBySide } from '../helpers/otp.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;

t.test('parseNodeName', async (t) => {
  t.same(parseNodeName('web1@127.0.0.1'), { full: 'web1@127.0.0.1', alive: 'web1', host: '127.0.0.1' });
  t.equal(parseNodeName('web1').full, `web1@${shortHostname()}`);
  for (const bad of ['', '@host', 'a@', 'a@b@c', 'sp ace@h', `${'x'.repeat(300)}@h`]) {
    t.throws(() => parseNodeName(bad), { code: 'ERR_BAD_NAME' }, JSON.stringify(bad));
  }
  await t.rejects(Node.start({ name: 'bad name', cookie: 'c' }), { code: 'ERR_BAD_NAME' });
});

for (const v of variantsSideBySide(t)) {
  t.test(`${v.label}: short names, both dial directions`, async (t) => {
    const epmdPort = await startEpmd(t);
    const node = await Node.start({ name: `jsshort${uniq}${v.root.replace(/\W/g, '')}`, cookie: 'c', epmd: { port: epmdPort }, listen: { host: '127.0.0.1' } });
    t.teardown(() => node.stop());
    t.equal(node.name, `jsshort${uniq}${v.root.replace(/\W/g, '')}@${shortHostname()}`);
    const erlName = `erlshort${uniq}${v.root.replace(/\W/g, '')}`;
    const erl = await startErlNode(t, {
      name: erlName,
      root: v.root,
      shortNames: true,
      cookie: 'c',
      epmdPort,
      eval: `${PEER_EVAL}, io:format("PING ~p~n", [net_adm:ping('${node.name}')])`, modules: PEER_MODULES,
    });
    t.equal(await erl.waitForLine(/^PING /), 'PING pong', 'erl -sname dials the short-named Node');
    const full = `${erlName}@${shortHostname()}`;
    t.same(node.nodes(), [full]);
    t.equal(await node.ping(full), true);
    const me = node.spawn();
    t.equal(await evalErl(node, me, full, 'node().'), atom(full));
  });

  t.test(`${v.label}: embedded EPMD: erl registers with it, epmd -names lists both, pings both ways`, async (t) => {
    const port = await freePort();
    const tag = `${uniq}${v.root.replace(/\W/g, '')}`;
    const node = await Node.start({ name: `jsemb${tag}@127.0.0.1`, cookie: 'c', epmd: { embedded: true, port } });
    t.teardown(() => node.stop());
    const erlName = `erlemb${tag}@127.0.0.1`;
    const erl = await startErlNode(t, {
      root: v.root,
      name: erlName,
      cookie: 'c',
      epmdPort: port,
      eval: `io:format("PING ~p~n", [net_adm:ping('${node.name}')])`,
    });
    t.equal(await erl.waitForLine(/^PING /), 'PING pong');
    t.equal(await node.ping(erlName), true);
    const names = await new Promise<string>((resolve, reject) =>
      execFile('epmd', ['-port', String(port), '-names'], { timeout: 10_000 }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    t.match(names, new RegExp(`name jsemb${tag} at port ${node.port}`));
    t.match(names, new RegExp(`name erlemb${tag} at port \\d+`));
  });
}
