// The gateway `darklaunch --spawn` runs, in a process of its own so that its
// cost is measured apart from the simulator's: a hidden beambridge node, a
// ChatBackend over distribution (or Thrift) to the spawned stub cluster, and
// serveGateway with metrics on. It prints one JSON ready line. SIGUSR2 closes
// the gateway and serves it again on the same port (the restart-gateway
// fault; it prints a `restarted` line); SIGTERM stops everything, exit 0.
import { ChatCluster, ChatChannelCluster, serveGateway, type ChatBackend, type Gateway } from '../../chat/index.js';
import { Node } from '../../otp/index.js';
import { startDiagnostics } from './diag.js';

/** What spawn.ts passes, as JSON in argv[2]. */
export interface GatewayProcessArgs {
  name: string;
  cookie: string;
  epmdPort: number;
  /** Stub node names (dist) and their Thrift endpoints (thrift). */
  seeds: string[];
  thriftSeeds: { host: string; port: number }[];
  transport: 'dist' | 'thrift';
  port: number;
  host: string;
  secret: string;
  pollTimeoutMs: number;
  /** How often the gateway reads its users' friends' presence (the pages' --presence-every). */
  presenceIntervalMs: number;
  /** Users who may sign in: ids lo..hi. */
  users: [number, number];
}

startDiagnostics('gateway');
const a = JSON.parse(process.argv[2] ?? '{}') as GatewayProcessArgs;
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

let node: Node | undefined;
let backend: ChatBackend;
if (a.transport === 'thrift') {
  backend = await ChatChannelCluster.connect({ seeds: a.thriftSeeds });
} else {
  node = await Node.start({ name: a.name, cookie: a.cookie, hidden: true, epmd: { port: a.epmdPort } });
  backend = await ChatCluster.connect({ node, seeds: a.seeds });
}
const [lo, hi] = a.users.map(BigInt);
const serve = (port: number) =>
  serveGateway({
    backend,
    port,
    host: a.host,
    secret: a.secret,
    metrics: true,
    pollTimeoutMs: a.pollTimeoutMs,
    presenceIntervalMs: a.presenceIntervalMs,
    // Every simulated browser signs in from this one address; real ones come from many.
    loginRateLimit: { ratePerSec: 1e6, burst: 1e6 },
    // Likewise for the API (a load test, not abuse): the audit's history reads of 1,000 cost 11 tokens each.
    apiRateLimit: { ratePerSec: 1e6, burst: 1e6 },
    authenticate: (_req, body) => {
      const id = typeof body.userId === 'string' && /^\d{1,19}$/.test(body.userId) ? BigInt(body.userId) : undefined;
      return id !== undefined && id >= lo && id <= hi ? id : null;
    },
  });

let gw: Gateway = await serve(a.port);
say({ gateway: gw.url, port: gw.port, pid: process.pid });

let restarts = 0;
let busy: Promise<void> = Promise.resolve();
process.on('SIGUSR2', () => {
  busy = busy.then(async () => {
    const t = Date.now();
    await gw.close();
    gw = await serve(gw.port);
    restarts++;
    say({ restarted: restarts, gateway: gw.url, downMs: Date.now() - t });
  });
});
process.on('SIGTERM', () => {
  void busy.then(async () => {
    await gw.close();
    await backend.close();
    await node?.stop();
    process.exit(0);
  });
});
