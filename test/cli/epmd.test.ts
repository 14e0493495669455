// `beambridge epmd names | serve`, checked by real erl nodes registering there
// and by the real `epmd -names`.
import t from 'tap';
import { execFile } from 'node:child_process';
import { startEpmd, startErlNode, freePort } from '../../src/testing/index.js';
import { cli, cliIn, cliTty, startCli } from './cli.js';

function epmdNames(port: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('epmd', ['-port', String(port), '-names'], { timeout: 30_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
  );
}

t.test('epmd names lists the nodes registered with a real epmd', async (t) => {
  const port = await startEpmd(t);
  await startErlNode(t, { name: 'cliname1@127.0.0.1', cookie: 'c', epmdPort: port });
  const real = await epmdNames(port);
  const erlPort = /name cliname1 at port (\d+)/.exec(real)?.[1];
  t.ok(erlPort, `epmd -names: ${real}`);
  const r = await cliIn(['epmd', 'names', '--epmd-port', String(port)]);
  t.equal(r.code, 0, `--epmd-port, like every other command: ${r.stderr}`);
  t.match(r.stdout, new RegExp(`^epmd at 127\\.0\\.0\\.1:${port}: \\d+ nodes?\\n`));
  t.match(r.stdout, new RegExp(`\\nname cliname1 at port ${erlPort}\\n`));
  // The epmd may be CI's shared one (BEAMBRIDGE_EPMD_PORT), where other tests'
  // nodes come and go between two reads: compare this test's node only.
  const viaPort = await cliIn(['epmd', 'names', '--port', String(port)]);
  t.match(viaPort.stdout, new RegExp(`^epmd at 127\\.0\\.0\\.1:${port}: \\d+ nodes?\\n`), '--port is the same as --epmd-port');
  t.match(viaPort.stdout, new RegExp(`\\nname cliname1 at port ${erlPort}\\n`), '--port lists the same node');
  const j = await cliIn(['epmd', 'names', '--port', String(port), '--json']);
  t.same((JSON.parse(j.stdout) as { name: string; port: number }[]).find((n) => n.name === 'cliname1'), { name: 'cliname1', port: Number(erlPort) });
  // A real process for $ERL_EPMD_PORT (the library reads it from process.env); the other commands run in this one (cliIn).
  const env = await cli(['epmd', 'names'], { env: { ...process.env, ERL_EPMD_PORT: String(port), NO_COLOR: '1' } });
  t.match(env.stdout, /name cliname1 at port/, 'the port defaults to $ERL_EPMD_PORT');
});

t.test('epmd names: no epmd is a reported failure', async (t) => {
  const r = await cliIn(['epmd', 'names', '--port', String(await freePort())]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^beambridge epmd names: ERR_EPMD_UNREACHABLE: cannot reach EPMD at 127\.0\.0\.1:\d+/);
  t.equal((await cliIn(['epmd', 'names', '--port', 'many'])).code, 2);
});

t.test('a port already in use is reported as such', async (t) => {
  const port = await startEpmd(t);
  const serve = await cliIn(['epmd', 'serve', '--port', String(port)]);
  t.equal(serve.code, 1, 'epmd serve on a taken port fails with status 1');
  t.match(serve.stderr, new RegExp(`^beambridge epmd serve: ERR_PORT_IN_USE: embedded EPMD cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`), 'with the stable code and the address');
  const tap = await cliIn(['tap', 'x@127.0.0.1', '--epmd-port', String(port)]);
  t.equal(tap.code, 1, 'tap with a taken EPMD port fails with status 1');
  t.match(tap.stderr, /ERR_PORT_IN_USE/, 'and the same code');
  const relay = await cliIn(['tap', 'x@127.0.0.1', '--listen-port', String(port)]);
  t.match(relay.stderr, new RegExp(`^beambridge tap: ERR_PORT_IN_USE: 127\\.0\\.0\\.1:${port} is already in use`), 'a taken relay port too');
});

t.test('epmd serve: real erl nodes register, epmd -names and epmd names list them', async (t) => {
  const srv = await startCli(t, ['epmd', 'serve', '--port', '0'], { ready: /epmd listening on 127\.0\.0\.1:\d+/ });
  const port = Number(/:(\d+)$/.exec(srv.lines[0])![1]);
  const node = await startErlNode(t, { name: 'cliserve1@127.0.0.1', cookie: 'c', epmdPort: port });
  const reg = await srv.waitForLine(/register +cliserve1 at port \d+/);
  const erlPort = /at port (\d+)/.exec(reg)![1];
  t.match(await epmdNames(port), new RegExp(`name cliserve1 at port ${erlPort}`), 'the real epmd -names sees it');
  t.match((await cliIn(['epmd', 'names', '--port', String(port)])).stdout, new RegExp(`name cliserve1 at port ${erlPort}`));
  // A second node finds the first through it: distribution works with this EPMD alone.
  const other = await startErlNode(t, {
    name: 'cliserve2@127.0.0.1',
    cookie: 'c',
    epmdPort: port,
    eval: "io:format(\"PING ~p~n\", [net_adm:ping('cliserve1@127.0.0.1')])",
  });
  t.ok(other.lines.includes('PING pong'), 'net_adm:ping through the embedded EPMD answers pong');
  await node.stop();
  await srv.waitForLine(/unregister cliserve1/);
  await srv.stop();
  t.match(srv.lines[srv.lines.length - 1], /epmd stopped$/);
  t.equal(srv.child.exitCode, 0, 'stops cleanly with exit 0');
  t.equal(srv.stderr(), '', 'piped: no progress line');
});

t.test('epmd serve shows a progress line on a terminal', async (t) => {
  // Ctrl-C once the status line is on the terminal (it was a fixed 8 s before SIGINT).
  const out = await cliTty(['epmd', 'serve', '--port', '0'], undefined, /registered \(Ctrl-C stops\)/);
  t.match(out, /\r\x1b\[2Kepmd on 127\.0\.0\.1:\d+: 0 registered \(Ctrl-C stops\)/);
  t.match(out, /epmd stopped/);
});

t.test('epmd serve --json, and a port in use is a reported failure', async (t) => {
  const srv = await startCli(t, ['epmd', 'serve', '--port', '0', '--json'], { ready: /"event":"listening"/ });
  const port = (JSON.parse(srv.lines[0]) as { port: number }).port;
  await startErlNode(t, { name: 'cliservej@127.0.0.1', cookie: 'c', epmdPort: port });
  const line = await srv.waitForLine(/"event":"register"/);
  t.match(JSON.parse(line), { event: 'register', name: 'cliservej', hidden: false });
  const busy = await cliIn(['epmd', 'serve', '--port', String(port)]);
  t.equal(busy.code, 1, 'a second epmd serve on the same port fails with status 1');
  t.match(busy.stderr, /ERR_PORT_IN_USE: embedded EPMD cannot listen on 127\.0\.0\.1:\d+: the port is already in use/, 'and says the port is in use');
});
