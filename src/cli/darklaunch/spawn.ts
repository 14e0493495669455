// `darklaunch --spawn`: the whole system on this machine, started for the run
// and stopped by pid at its end (and when this process exits or is
// interrupted): an epmd, a cluster of stub nodes, and the gateway in a
// process of its own (gateway-process.ts). It also carries out the faults
// only a spawned system allows: SIGKILL a stub node and start it again under
// the same name, and restart the gateway on the same port.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startProcess, type Started } from '../../procs/process.js';
import { startEpmd } from '../../procs/erl.js';
import { randomCookie, startStub, type StubNode, type StubOptions } from '../../procs/stub.js';
import { CommandFailed } from '../io.js';
import type { GatewayProcessArgs } from './gateway-process.js';
import type { DarklaunchSettings } from './settings.js';
import { delayOn, killChannelOn, type StubInfo, type SystemUnderTest } from './system.js';

const GATEWAY_MAIN = fileURLToPath(new URL('./gateway-process.js', import.meta.url));
/** The gateway's grace between SIGTERM and SIGKILL at the end of a run. */
const GATEWAY_STOP_MS = 15_000;

/** Stops everything registered, last first. */
class Scope {
  private readonly stops: (() => unknown)[] = [];
  teardown(fn: () => unknown): void {
    this.stops.push(fn);
  }
  async close(): Promise<void> {
    // The started processes do not hold this process open (src/procs unrefs them):
    // something must, while we wait for them to exit.
    const hold = setInterval(() => {}, 1000);
    try {
      for (const fn of this.stops.reverse()) await Promise.resolve(fn()).catch(() => {});
    } finally {
      clearInterval(hold);
    }
  }
}

/** The stub flags of a spawned cluster: users 1..N seeded, idle after half the planned idle time. */
function stubOptions(s: DarklaunchSettings, epmdPort: number, cookie: string): StubOptions {
  return {
    epmdPort,
    cookie,
    users: s.firstUser + s.users - 1,
    friends: s.friends,
    seed: s.seed,
    idleMs: Math.max(1000, Math.min(60_000, Math.floor(s.idleForMs / 2))),
    logLevel: 'error',
    timeoutMs: 120_000,
  };
}

/**
 * The slots of node `i` of `n`: blocks of 32 slots dealt round-robin, so that
 * users 1..N (slot = id mod 1024) spread over every node even when N is small.
 */
export function interleavedSlots(i: number, n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let b = i; b * 32 < 1024; b += n) out.push([b * 32, b * 32 + 31]);
  return out;
}

export async function spawnSystem(s: DarklaunchSettings, say: (text: string) => void): Promise<SystemUnderTest> {
  const scope = new Scope();
  try {
    say('starting epmd');
    const epmdPort = await startEpmd(scope);
    const cookie = randomCookie();
    say(`starting ${s.stubNodes} stub node${s.stubNodes === 1 ? '' : 's'}`);
    const opts = stubOptions(s, epmdPort, cookie);
    const names = Array.from({ length: s.stubNodes }, (_, i) => `darklaunch_stub${i + 1}_${process.pid}_${randomBytes(3).toString('hex')}@127.0.0.1`);
    const nodes: StubNode[] = await Promise.all(
      names.map((name, i) => startStub(scope, { ...opts, name, slots: interleavedSlots(i, s.stubNodes), cluster: names.filter((n) => n !== name), clusterWaitMs: 90_000 })),
    );
    say('starting the gateway');
    const args: GatewayProcessArgs = {
      name: `darklaunch_gw_${process.pid}_${randomBytes(3).toString('hex')}@127.0.0.1`,
      cookie,
      epmdPort,
      seeds: nodes.map((n) => n.node),
      thriftSeeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.thriftPort })),
      transport: s.transport,
      port: 0,
      host: '127.0.0.1',
      secret: randomBytes(24).toString('hex'),
      pollTimeoutMs: s.pollTimeoutMs,
      // Presence changes reach a page within the period it asks at: as fresh as its own query, at a sixth
      // of the poll answers a 10 s push costs when every user has 200 friends (README "Scale").
      presenceIntervalMs: s.presenceEveryMs,
      users: [s.firstUser, s.firstUser + s.users - 1],
    };
    const gw: Started = await startProcess({
      cmd: process.execPath,
      // DARKLAUNCH_GATEWAY_NODE_ARGS: node flags of the gateway process only (e.g. --cpu-prof, --trace-gc), for profiling.
      args: [...(process.env.DARKLAUNCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter((x) => x !== ''), GATEWAY_MAIN, JSON.stringify(args)],
      env: { ERL_EPMD_PORT: String(epmdPort) },
      ready: /^\{"gateway":/,
      timeoutMs: 60_000,
      t: scope,
    }).catch((e: Error) => {
      throw new CommandFailed(`the gateway did not start: ${e.message}`, { cause: e });
    });
    // Stopped first (last registered), with time to answer its held polls and write a --cpu-prof profile.
    scope.teardown(() => gw.stop(GATEWAY_STOP_MS));
    const ready = JSON.parse(gw.lines.find((l) => l.startsWith('{"gateway"'))!) as { gateway: string };
    const target = ready.gateway;
    let restarts = 0;
    const info = (): StubInfo[] => nodes.map((n, i) => ({ index: i + 1, node: n.node, controlPort: n.controlPort, pid: n.pid, slots: n.slots }));
    return {
      target,
      metricsUrl: new URL('/metrics', target).href,
      gatewayPid: gw.pid,
      stubs: info,
      killChannel: (user) => killChannelOn(info(), user),
      delay: (ms) => delayOn(info(), ms),
      async killNode(index) {
        const old = nodes[index - 1];
        const killedAt = Date.now();
        if (!old.process.exited) {
          const gone = once(old.process.child, 'exit');
          process.kill(old.pid, 'SIGKILL');
          await gone;
        }
        const again = await startStub(scope, {
          ...opts,
          name: old.node,
          slots: old.slots,
          cluster: nodes.filter((n) => n !== old).map((n) => n.node),
          thriftPort: old.thriftPort,
        });
        nodes[index - 1] = again;
        return { node: old.node, killedAt, restartedAt: Date.now() };
      },
      async restartGateway() {
        const n = ++restarts;
        process.kill(gw.pid, 'SIGUSR2');
        const line = await gw.waitForLine(new RegExp(`^\\{"restarted":${n},`), 30_000);
        const { downMs } = JSON.parse(line) as { downMs: number };
        return `gateway closed and served again on the same port (down ${downMs} ms)`;
      },
      close: () => scope.close(),
    };
  } catch (e) {
    await scope.close();
    throw e;
  }
}
