// The gateway process of bench/gateway.mjs: a beambridge node, ChatCluster
// over distribution to the stub, and serveGateway on the HTTP layer named by
// argv[2] ('beambridge' or 'node:http'). Driven over IPC:
//   -> { cmd: 'mem' }    <- { rss, heapUsed, stats }  (after two full GCs)
//   -> { cmd: 'stats' }  <- { stats }
//   -> { cmd: 'upstream' } <- { ok: [ms] } stub event -> gateway receipt, and resets them
//   -> { cmd: 'prof', file }  starts a CPU profile (file undefined: stops it and writes it) <- { ok }
//   -> { cmd: 'exit' }
// Run with --expose-gc.
import { Node } from '../dist/otp/index.js';
import { ChatCluster, serveGateway } from '../dist/chat/index.js';

const [, , httpServer, stubNode, cookie, epmdPort, secret, presenceIntervalMs] = process.argv;
const node = await Node.start({ name: `bbgw_${process.pid}@127.0.0.1`, cookie, epmd: { port: Number(epmdPort) } });
const chat = await ChatCluster.connect({ node, seeds: [stubNode], callTimeoutMs: 30_000 });
// Where an event's time goes: for each message event an upstream poll brings,
// the gateway's receipt time minus the message's sentAtMs (stamped by the
// stub when it stored the message). The backend is the real ChatCluster; this
// only reads the answers on their way in.
let upstream = [];
const poll = async (...a) => {
  const r = await chat.poll(...a);
  const now = Date.now();
  for (const ev of r.events) if (ev.message !== undefined) upstream.push(now - Number(ev.message.sentAtMs));
  return r;
};
const backend = new Proxy(chat, {
  get: (t, k) => (k === 'poll' ? poll : typeof t[k] === 'function' ? t[k].bind(t) : t[k]),
});
const gateway = await serveGateway({
  backend,
  secret,
  // The bench signs in users 1..N without asking the servers first (fewer calls per login).
  authenticate: (_req, body) => BigInt(body.userId),
  httpServer,
  pollTimeoutMs: 120_000,
  pollJitter: 0,
  upstreamPollMs: 120_000,
  idleStopMs: 600_000,
  presenceIntervalMs: Number(presenceIntervalMs),
  rateLimit: { ratePerSec: 1e6, burst: 1e6 },
  loginRateLimit: { ratePerSec: 1e6, burst: 1e6 },
  apiRateLimit: { ratePerSec: 1e6, burst: 1e6 },
});

const prof = { session: undefined, file: '' };

const gcAll = () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
};

process.on('message', async (m) => {
  if (m.cmd === 'mem') {
    gcAll();
    await new Promise((r) => setTimeout(r, 200));
    gcAll();
    const mu = process.memoryUsage();
    process.send({ rss: mu.rss, heapUsed: mu.heapUsed, stats: gateway.stats() });
  } else if (m.cmd === 'upstream') {
    process.send({ ok: upstream });
    upstream = [];
  } else if (m.cmd === 'stats') {
    process.send({ stats: gateway.stats() });
  } else if (m.cmd === 'prof') {
    // GW_PROF_FANOUT: a CPU profile of the fan-out phase only (bench/gateway.mjs).
    const { Session } = await import('node:inspector');
    const { writeFileSync } = await import('node:fs');
    const post = (method, params) => new Promise((resolve, reject) => prof.session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
    if (m.file !== undefined) {
      prof.session = new Session();
      prof.session.connect();
      prof.file = m.file;
      await post('Profiler.enable');
      await post('Profiler.start');
    } else if (prof.session !== undefined) {
      const { profile } = await post('Profiler.stop');
      writeFileSync(prof.file, JSON.stringify(profile));
      prof.session.disconnect();
      prof.session = undefined;
    }
    process.send({ ok: true });
  } else if (m.cmd === 'exit') {
    await gateway.close();
    await chat.close();
    await node.stop();
    process.exit(0);
  }
});
process.send({ url: gateway.url, port: gateway.port });
