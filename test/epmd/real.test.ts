// The EPMD client against a real epmd, and the embedded server used by real
// erl nodes, `epmd -names` and net_adm:names().
import t from 'tap';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { EpmdClient, EpmdServer, type EpmdRegistrationInfo } from '../../src/epmd/index.js';
import { freePort, startProcess, startEpmd, startErlNode } from '../../src/testing/index.js';
import { until } from '../helpers/until.js';

const tag = `${process.pid}x${Math.floor(Math.random() * 1e6)}`;

function epmdNames(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('epmd', ['-names'], { env: { ...process.env, ERL_EPMD_PORT: String(port) }, timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

/** `p`, or a rejection after `limitMs` (a ref'd timer: the process stays alive meanwhile). */
function within<T>(what: string, p: Promise<T>, limitMs = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms`)), limitMs);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * Waits until `name` is gone from the EPMD: it drops a registration when it sees the socket
 * close, not before close() resolves. Polled every 50 ms; the poll's ref'd timer keeps the
 * process alive while everything else it waits on (an epmd child, a retry timer) is unref'd.
 */
const gone = (c: EpmdClient, name: string) =>
  until(async () => (await c.portPlease(name)) === undefined, 60_000, 50);

t.test('client against a real epmd: register, port please, names', async (t) => {
  const port = await startEpmd(t);
  const c = new EpmdClient({ port });
  const name = `reg${tag}`;
  const reg = await c.register({ name, port: 40001, hidden: true });
  t.teardown(() => reg.close());
  t.ok(reg.creation > 0, `creation ${reg.creation}`);
  const info = await c.portPlease(name);
  t.equal(info?.port, 40001);
  t.equal(info?.nodeType, 72, 'hidden');
  t.equal(info?.highestVersion, 6);
  t.ok((await c.names()).some((n) => n.name === name && n.port === 40001));
  t.match(await epmdNames(port), new RegExp(`name ${name} at port 40001`));
  await t.rejects(c.register({ name, port: 40002 }), { code: 'ERR_EPMD_NAME_TAKEN' });
  await reg.close();
  t.ok(await gone(c, name), 'closing the socket unregisters');
  t.equal(await c.portPlease(`nobody${tag}`), undefined);
});

t.test('re-registration after epmd restarts', async (t) => {
  const port = await freePort();
  const start = () =>
    startProcess({ cmd: 'epmd', args: ['-port', String(port), '-relaxed_command_check'], readyPort: port, t });
  let epmd = await start();
  const c = new EpmdClient({ port });
  const name = `phoenix${tag}`;
  const reg = await c.register({ name, port: 40003, reconnect: { delay: (n) => Math.min(50 * n, 300) } });
  t.teardown(() => reg.close());
  const lost = once(reg, 'lost');
  await epmd.stop();
  await within('lost', lost);
  t.equal(reg.state, 'reconnecting');
  const registered = once(reg, 'registered');
  epmd = await start();
  // The retry timer and the epmd child are unref'd: without a ref'd wait the
  // process could exit before the next retry fires (seen on a loaded machine).
  const [creation] = await within('re-registered', registered);
  t.equal(reg.state, 'registered');
  t.equal(reg.registrations, 2);
  t.equal(creation, reg.creation);
  t.equal((await c.portPlease(name))?.port, 40003, 'visible in the new epmd');
  await reg.close();
  t.ok(await gone(c, name), 'gone from the new epmd after close()');
});

t.test('embedded server: real erl registers, epmd -names and net_adm:names list it', async (t) => {
  const srv = await EpmdServer.start({ port: 0 });
  t.teardown(() => srv.close());
  const regs: EpmdRegistrationInfo[] = [];
  srv.on('register', (i: EpmdRegistrationInfo) => regs.push(i));
  const name = `emb${tag}`;
  const erl = await startErlNode(t, {
    name: `${name}@127.0.0.1`,
    cookie: 'c',
    epmdPort: srv.port,
    eval: 'io:format("NAMES ~p~n", [net_adm:names()])',
  });
  const namesLine = await erl.waitForLine(/^NAMES /);
  t.match(namesLine, new RegExp(`\\{ok,\\[\\{"${name}",\\d+\\}\\]\\}`), 'net_adm:names() from the node itself');
  t.equal(regs.length, 1);
  t.equal(regs[0].name, name);
  t.equal(regs[0].nodeType, 77);

  const out = await epmdNames(srv.port);
  t.match(out, new RegExp(`up and running on port ${srv.port}`));
  t.match(out, new RegExp(`name ${name} at port ${regs[0].port}`));

  const c = new EpmdClient({ port: srv.port });
  t.equal((await c.portPlease(name))?.port, regs[0].port, 'PORT_PLEASE2');
  t.equal(await c.portPlease('nobody'), undefined);

  // A second real node looks the first one up through us and connects.
  const erl2 = await startErlNode(t, {
    name: `emb2${tag}@127.0.0.1`,
    cookie: 'c',
    epmdPort: srv.port,
    eval: `io:format("PING ~p~n", [net_adm:ping('${name}@127.0.0.1')])`,
  });
  t.equal(await erl2.waitForLine(/^PING /), 'PING pong');

  const unreg = once(srv, 'unregister');
  await erl.stop();
  const [gone] = await unreg;
  t.equal(gone.name, name);
  t.equal(await c.portPlease(name), undefined, 'dropped when the registering socket closed');
});

t.test('embedded server: resolve hook, duplicate names, kill and garbage', async (t) => {
  const srv = await EpmdServer.start({
    port: 0,
    relaxedCommandCheck: true,
    resolve: (n) => (n === 'relayed' ? 6000 : n === 'detailed' ? { port: 6001, nodeType: 72 } : undefined),
  });
  t.teardown(() => srv.close());
  const c = new EpmdClient({ port: srv.port });
  t.equal((await c.portPlease('relayed'))?.port, 6000);
  const d = await c.portPlease('detailed');
  t.equal(d?.port, 6001);
  t.equal(d?.nodeType, 72);
  t.equal(d?.name, 'detailed');

  const reg = await c.register({ name: 'dup', port: 7000 });
  t.teardown(() => reg.close());
  await t.rejects(c.register({ name: 'dup', port: 7001 }), { code: 'ERR_EPMD_NAME_TAKEN' });
  t.same(await c.names(), [{ name: 'dup', port: 7000 }]);

  const errors: Error[] = [];
  srv.on('clientError', (e: Error) => errors.push(e));
  const { connect } = await import('node:net');
  for (const garbage of [Buffer.of(0, 1, 99), Buffer.of(0xff, 0xff, 1), Buffer.of(0, 3, 120, 1, 2)]) {
    const s = connect({ port: srv.port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.write(garbage);
    await once(s, 'close');
  }
  t.equal(errors.length, 3, 'each garbage client dropped with a typed error');
  t.ok(errors.every((e) => (e as { code?: string }).code === 'ERR_EPMD_PROTOCOL'));
  t.same(await c.names(), [{ name: 'dup', port: 7000 }], 'still serving');

  // KILL_REQ with relaxed command check stops the server.
  const killed = once(srv, 'kill');
  const s = connect({ port: srv.port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  s.write(Buffer.of(0, 1, 107));
  await once(s, 'close');
  t.equal(Buffer.concat(chunks).toString(), 'OK');
  await killed;
  await t.rejects(c.names({ timeoutMs: 2000 }), { code: 'ERR_EPMD_UNREACHABLE' });
});
