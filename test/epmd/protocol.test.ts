// EPMD wire format: builders and parsers, fed one byte at a time; and the
// client against a fake EPMD that answers one byte per write.
import t from 'tap';
import type { Teardownable } from '../../src/testing/index.js';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import {
  encodeAlive2Req,
  encodeAlive2Resp,
  encodeNamesResp,
  encodePort2Resp,
  encodePortPlease2Req,
  nodeInfo,
  parseAlive2Req,
  parseAlive2Resp,
  parseNamesResp,
  parsePort2Resp,
  EPMD,
} from '../../src/epmd/protocol.js';
import { EpmdClient, EpmdError } from '../../src/epmd/index.js';

t.test('ALIVE2_REQ layout and round trip', async (t) => {
  const info = nodeInfo({ name: 'wéb1', port: 0x1234, extra: Buffer.from('xy') });
  const req = encodeAlive2Req(info);
  const nlen = Buffer.byteLength('wéb1');
  t.equal(req.readUInt16BE(0), req.length - 2, 'length prefix');
  t.same([...req.subarray(2, 13)], [120, 0x12, 0x34, 77, 0, 0, 6, 0, 6, 0, nlen]);
  const back = parseAlive2Req(req.subarray(2));
  t.equal(back.name, 'wéb1');
  t.equal(back.port, 0x1234);
  t.equal(back.extra.toString(), 'xy');
  t.throws(() => parseAlive2Req(req.subarray(2, 10)), { code: 'ERR_EPMD_PROTOCOL' });
  t.throws(() => parseAlive2Req(Buffer.concat([req.subarray(2), Buffer.of(0)])), { code: 'ERR_EPMD_PROTOCOL' });
  t.throws(() => encodeAlive2Req(nodeInfo({ name: '', port: 1 })), { code: 'ERR_EPMD_BAD_NAME' });
  t.throws(() => encodeAlive2Req(nodeInfo({ name: 'a@b', port: 1 })), { code: 'ERR_EPMD_BAD_NAME' });
  t.throws(() => encodeAlive2Req(nodeInfo({ name: 'x'.repeat(256), port: 1 })), { code: 'ERR_EPMD_BAD_NAME' });
  t.throws(() => encodePortPlease2Req('\uD800'), { code: 'ERR_EPMD_BAD_NAME' });
});

t.test('ALIVE2 replies parse only when complete', async (t) => {
  for (const [resp, creation] of [
    [encodeAlive2Resp(0, 0xdeadbeef, true), 0xdeadbeef],
    [encodeAlive2Resp(0, 3, false), 3],
  ] as const) {
    for (let i = 0; i < resp.length; i++) t.equal(parseAlive2Resp(resp.subarray(0, i)), undefined, `prefix ${i}`);
    t.same(parseAlive2Resp(resp), { result: 0, creation, length: resp.length });
  }
  t.equal(parseAlive2Resp(encodeAlive2Resp(1, 0, true))!.result, 1);
  t.throws(() => parseAlive2Resp(Buffer.of(42)), { code: 'ERR_EPMD_PROTOCOL' });
});

t.test('PORT2_RESP parses only when complete', async (t) => {
  const info = nodeInfo({ name: 'n1', port: 4242, nodeType: 72, extra: Buffer.from('e') });
  const resp = encodePort2Resp(info);
  for (let i = 0; i < resp.length; i++) t.equal(parsePort2Resp(resp.subarray(0, i)), undefined, `prefix ${i}`);
  const got = parsePort2Resp(resp)!;
  t.equal(got.name, 'n1');
  t.equal(got.port, 4242);
  t.equal(got.nodeType, 72);
  t.equal(got.extra.toString(), 'e');
  t.equal(parsePort2Resp(encodePort2Resp(undefined)), null, 'not found');
  t.throws(() => parsePort2Resp(Buffer.of(1, 2)), { code: 'ERR_EPMD_PROTOCOL' });
});

t.test('NAMES_RESP', async (t) => {
  const resp = encodeNamesResp(4369, [
    { name: 'a', port: 1 },
    { name: 'bé', port: 65535 },
  ]);
  t.same(parseNamesResp(resp), { epmdPort: 4369, nodes: [{ name: 'a', port: 1 }, { name: 'bé', port: 65535 }] });
  t.same(parseNamesResp(encodeNamesResp(7, [])), { epmdPort: 7, nodes: [] });
  t.throws(() => parseNamesResp(Buffer.of(0, 0)), { code: 'ERR_EPMD_PROTOCOL' });
  t.throws(() => parseNamesResp(Buffer.concat([Buffer.alloc(4), Buffer.from('garbage\n')])), { code: 'ERR_EPMD_PROTOCOL' });
});

/** A fake EPMD that answers each request with `answer(body)`, one byte per write. */
async function dribblingEpmd(
  t: Teardownable,
  answer: (body: Buffer, s: Socket) => Buffer | undefined,
  opts: { keepOpen?: boolean } = {},
): Promise<number> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    s.on('data', async (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const out = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), s);
      buf = Buffer.alloc(0);
      if (out === undefined) return;
      for (const byte of out) {
        if (s.destroyed) return;
        s.write(Buffer.of(byte));
        await new Promise((r) => setTimeout(r, 2));
      }
      if (!opts.keepOpen) s.end();
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return (srv.address() as { port: number }).port;
}

t.test('client requests survive one-byte reads', async (t) => {
  const port = await dribblingEpmd(t, (body) => {
    if (body[0] === EPMD.PORT_PLEASE2_REQ) {
      const name = body.subarray(1).toString();
      return encodePort2Resp(name === 'known' ? nodeInfo({ name, port: 5555 }) : undefined);
    }
    if (body[0] === EPMD.NAMES_REQ) return encodeNamesResp(port, [{ name: 'known', port: 5555 }]);
    return undefined;
  });
  const c = new EpmdClient({ port });
  t.equal((await c.portPlease('known'))!.port, 5555);
  t.equal(await c.portPlease('unknown'), undefined);
  t.same(await c.names(), [{ name: 'known', port: 5555 }]);
});

t.test('client registration survives one-byte reads', async (t) => {
  const port = await dribblingEpmd(t, (body) => (body[0] === EPMD.ALIVE2_REQ ? encodeAlive2Resp(0, 77777, true) : undefined), {
    keepOpen: true,
  });
  const reg = await new EpmdClient({ port }).register({ name: 'dribble', port: 1234 });
  t.equal(reg.creation, 77777);
  t.equal(reg.state, 'registered');
  await reg.close();
  t.equal(reg.state, 'closed');
});

t.test('client errors are typed', async (t) => {
  // An EPMD that closes mid-reply.
  const port = await dribblingEpmd(t, (body) => (body[0] === EPMD.PORT_PLEASE2_REQ ? encodePort2Resp(nodeInfo({ name: 'x', port: 1 })).subarray(0, 5) : Buffer.of(121, 1, 0, 0)));
  const c = new EpmdClient({ port });
  await t.rejects(c.portPlease('x'), { code: 'ERR_EPMD_CLOSED' });
  await t.rejects(c.register({ name: 'taken', port: 1 }), { code: 'ERR_EPMD_NAME_TAKEN' });
  // An EPMD that never answers.
  const silent = await dribblingEpmd(t, () => undefined);
  await t.rejects(new EpmdClient({ port: silent, timeoutMs: 200 }).names(), { code: 'ERR_EPMD_TIMEOUT' });
  const ac = new AbortController();
  const p = new EpmdClient({ port: silent }).portPlease('x', { signal: ac.signal });
  ac.abort();
  await t.rejects(p, { code: 'ERR_ABORTED' });
  // Nobody listening.
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const dead = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  const err = await new EpmdClient({ port: dead }).names().catch((e: unknown) => e);
  t.ok(err instanceof EpmdError);
  t.equal((err as EpmdError).code, 'ERR_EPMD_UNREACHABLE');
});
