// The stub starts from bin/chat-stub and from the TypeScript helper, prints
// one JSON ready line, answers Thrift on the port it reports, takes the fault
// commands on its control port, refuses bad flags, and stops cleanly on
// SIGTERM. Every node is stopped by pid in teardown.
import t from 'tap';
import { execFile } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { STUB_BIN, buildStub, startStub, controlCommand, startEpmd, startProcess } from '../../src/testing/index.js';

/** A framed, strict-binary Thrift call with an empty argument struct. */
function emptyCall(name: string, seq: number): Buffer {
  const n = Buffer.from(name);
  const msg = Buffer.alloc(12 + n.length + 1);
  msg.writeUInt32BE(0x80010001, 0);
  msg.writeUInt32BE(n.length, 4);
  n.copy(msg, 8);
  msg.writeInt32BE(seq, 8 + n.length);
  msg[msg.length - 1] = 0; // stop: no arguments
  const frame = Buffer.alloc(4);
  frame.writeUInt32BE(msg.length, 0);
  return Buffer.concat([frame, msg]);
}

/** Reads one framed reply (or resolves null if the peer closes first). */
function readFrame(sock: Socket): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        cleanup();
        resolve(buf.subarray(4, 4 + buf.readUInt32BE(0)));
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('close', onEnd);
      sock.off('end', onEnd);
    };
    sock.on('data', onData);
    sock.on('close', onEnd);
    sock.on('end', onEnd);
  });
}

async function open(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return s;
}

async function partitionMapOver(port: number, seq: number): Promise<Buffer> {
  const s = await open(port);
  try {
    const reply = readFrame(s);
    s.write(emptyCall('partitionMap', seq));
    const r = await reply;
    if (r === null) throw new Error('connection closed');
    return r;
  } finally {
    s.destroy();
  }
}

t.test('one node from the helper: ready line, Thrift, control port, faults', async (t) => {
  const stub = await startStub(t, { users: 200, friends: 20, idleMs: 5000 });
  t.match(stub.node, /^stub\d+_\d+_[0-9a-f]+@127\.0\.0\.1$/);
  t.ok(stub.thriftPort > 0);
  t.ok(stub.controlPort > 0);
  t.ok(stub.pid > 0);
  t.equal(stub.ready.os_pid, stub.pid, 'the script execs erl: the pid we hold is the node');
  t.same(stub.slots, [[0, 1023]]);
  t.equal(stub.ready.friends, 20);
  t.equal(stub.ready.cluster_complete, true);
  t.same(stub.ready.cluster, [stub.node]);
  t.equal(stub.process.lines.length, 1, 'exactly one line on stdout');

  // Thrift on the reported port: a REPLY to partitionMap with our seqid.
  const reply = await partitionMapOver(stub.thriftPort, 77);
  t.equal(reply.readUInt32BE(0), 0x80010002, 'strict binary REPLY');
  t.equal(reply.toString('latin1', 8, 8 + 12), 'partitionMap');
  t.equal(reply.readInt32BE(20), 77, 'seqid echoed');
  t.ok(reply.includes(Buffer.from(stub.node)), 'the range names the node');

  t.same(await stub.control('ping'), { ok: true, node: stub.node });
  const stats = await stub.stats();
  t.equal(stats.online, 0);
  t.equal((await stub.control('partition_map')).ranges instanceof Array, true);
  t.same(await stub.control('no such command'), { ok: false, error: 'unknown command' });

  // close_thrift closes an open connection (one that has been answered, so
  // the stub surely has it); new ones work.
  const s = await open(stub.thriftPort);
  const first = readFrame(s);
  s.write(emptyCall('partitionMap', 9));
  t.ok(await first, 'answered on the connection');
  const closed = readFrame(s);
  t.equal(await stub.fault.closeThrift(), 1);
  t.equal(await closed, null, 'open connection closed');
  s.destroy();
  t.ok((await partitionMapOver(stub.thriftPort, 1)).length > 0);

  // refuse: connecting fails until the listener reopens on the same port
  // (a long refusal, ended early by a second command: no timing assumption).
  await stub.fault.refuseConnections(600_000);
  const refused = connect({ host: '127.0.0.1', port: stub.thriftPort });
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    refused.once('error', resolve);
    refused.once('connect', () => resolve(null));
  });
  refused.destroy();
  t.equal(err?.code, 'ECONNREFUSED');
  await stub.fault.refuseConnections(0);
  for (let i = 0; ; i++) {
    try {
      await partitionMapOver(stub.thriftPort, 2);
      break;
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.pass('accepting again after the refusal');

  await stub.fault.delay(20);
  t.equal((await stub.stats()).delay_ms, 20);
  t.ok((await partitionMapOver(stub.thriftPort, 3)).length > 0, 'delayed replies still arrive');
  await stub.fault.delay(0);

  await stub.fault.crashPresence();
  t.equal((await stub.stats()).present, 0);
  await t.rejects(stub.fault.killChannel(12345), /not_online/);
  t.same(await stub.fault.disconnectPeers(), []);

  await stub.stop();
  t.equal(stub.process.child.exitCode, 0, 'SIGTERM: clean exit, status 0');
  t.equal(stub.process.child.signalCode, null);

  // stop() also stopped the helper's own epmd; restart() brings both back on the same ports.
  const again = await stub.restart();
  t.teardown(() => again.stop());
  t.same([again.node, again.epmdPort, again.thriftPort], [stub.node, stub.epmdPort, stub.thriftPort], 'restart after stop: same name and ports');
  t.ok((await partitionMapOver(again.thriftPort, 1)).length > 0, 'and it serves');
});

t.test('bin/chat-stub: flags, ready line, bad input', async (t) => {
  await buildStub();
  const epmdPort = await startEpmd(t);
  const name = `flags_${process.pid}@127.0.0.1`;
  const node = await startProcess({
    cmd: STUB_BIN,
    args: ['--name', name, '--cookie', 'flagcookie', '--epmd-port', String(epmdPort), '--thrift-port', '0',
      '--slots', '0-99,200-299', '--users', '50', '--friends', '6', '--idle-ms', '1000', '--grace-ms', '0',
      '--window', '3', '--seed', '9', '--control-port', '0', '--log-level', 'error'],
    ready: /^\{/,
    timeoutMs: 90_000,
    t,
  });
  const ready = JSON.parse(node.lines[0]!);
  t.match(ready, { node: name, cookie: 'flagcookie', slots: [[0, 99], [200, 299]], users: 50, friends: 6,
    idle_ms: 1000, grace_ms: 0, window: 3, seed: 9, otp_release: '25' });
  const ranges = (await controlCommand(ready.control_port, 'partition_map')).ranges as { first: number; last: number }[];
  t.same(ranges.map((r) => [r.first, r.last]), [[0, 99], [200, 299]]);
  await node.stop();

  const fails = (args: string[]) => new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(STUB_BIN, args, { timeout: 60_000, env: { ...process.env } }, (err, _o, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
  const noName = await fails(['--thrift-port', '0']);
  t.equal(noName.code, 2);
  t.match(noName.stderr, /--name/);
  const ep = ['--epmd-port', String(epmdPort)];
  const bogus = await fails(['--name', `bad1_${process.pid}@127.0.0.1`, ...ep, '--bogus', '1']);
  t.equal(bogus.code, 2);
  t.match(bogus.stderr, /unknown flag --bogus/);
  const badSlots = await fails(['--name', `bad2_${process.pid}@127.0.0.1`, ...ep, '--slots', '5-2000']);
  t.equal(badSlots.code, 2);
  t.match(badSlots.stderr, /bad value for --slots/);
  // A Thrift port that is taken: the node says so and exits.
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const port = (taken.address() as { port: number }).port;
  const busy = await fails(['--name', `bad3_${process.pid}@127.0.0.1`, ...ep, '--thrift-port', String(port)]);
  taken.close();
  t.equal(busy.code, 1);
  t.match(busy.stderr, /cannot start/);
});
