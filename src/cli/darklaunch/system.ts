// The system a run loads: a gateway URL and, when known, the stub nodes
// behind it (their control ports, for faults and `stats`). Either given
// (TARGET and --stub-control) or spawned by the command (spawn.ts).
import { controlCommand } from '../../procs/stub.js';
import { slotOf } from '../../chat/slot.js';
import { CommandFailed } from '../io.js';

/** One stub node of the system. `index` is 1-based, as in `kill-node:N`. */
export interface StubInfo {
  index: number;
  node: string;
  controlPort: number;
  /** The OS pid, when the command spawned the node. */
  pid: number | undefined;
  slots: [number, number][];
}

/** What a kill-node fault did. */
export interface NodeKill {
  node: string;
  /** Epoch ms: SIGKILL sent; the restarted node printed its ready line. */
  killedAt: number;
  restartedAt: number;
}

/** The system under test. Faults resolve with a line saying what they did. */
export interface SystemUnderTest {
  readonly target: string;
  readonly metricsUrl: string | undefined;
  /** The gateway's OS pid, when spawned. */
  readonly gatewayPid: number | undefined;
  stubs(): StubInfo[];
  killChannel(user: string): Promise<string>;
  delay(ms: number): Promise<string>;
  /** Only when spawned. */
  killNode?(index: number): Promise<NodeKill>;
  restartGateway?(): Promise<string>;
  /** Stops what the command started (nothing for a given system). */
  close(): Promise<void>;
}

/** The stub node owning a user's slot. */
export function ownerOf(stubs: StubInfo[], user: number | string): StubInfo | undefined {
  const slot = slotOf(BigInt(user));
  return stubs.find((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
}

/** Sends a control command and throws unless it answered ok. */
export async function control(port: number, line: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const r = await controlCommand(port, line, timeoutMs);
  if (r.ok !== true) throw new CommandFailed(`stub control '${line}' on port ${port} failed: ${r.error ?? 'no reason given'}`);
  return r;
}

/** kill_channel on the user's owner. */
export async function killChannelOn(stubs: StubInfo[], user: string): Promise<string> {
  const owner = ownerOf(stubs, user);
  if (!owner) throw new CommandFailed(`no stub node owns user ${user}'s slot`);
  await control(owner.controlPort, `kill_channel ${user}`);
  return `killed user ${user}'s channel on ${owner.node}`;
}

/** The stub's delay fault on every node. */
export async function delayOn(stubs: StubInfo[], ms: number): Promise<string> {
  await Promise.all(stubs.map((s) => control(s.controlPort, `delay ${ms}`)));
  return ms === 0 ? `delay off on ${stubs.length} stub nodes` : `every reply of ${stubs.length} stub nodes delayed by ${ms} ms`;
}

/**
 * A gateway someone else runs, with (optionally) its stub nodes' control
 * ports: each is asked for its name and the partition map.
 */
export async function givenSystem(target: string, controlPorts: number[], metricsUrl: string | undefined): Promise<SystemUnderTest> {
  const stubs: StubInfo[] = [];
  for (const [i, port] of controlPorts.entries()) {
    let ping: Record<string, unknown>;
    let map: Record<string, unknown>;
    try {
      ping = await control(port, 'ping', 5000);
      map = await control(port, 'partition_map', 5000);
    } catch (e) {
      throw new CommandFailed(`--stub-control ${port}: no stub control port answers there (${(e as Error).message})`, { cause: e });
    }
    const node = String(ping.node);
    const ranges = (Array.isArray(map.ranges) ? map.ranges : []) as { first: number; last: number; node: string }[];
    stubs.push({ index: i + 1, node, controlPort: port, pid: undefined, slots: ranges.filter((r) => r.node === node).map((r) => [r.first, r.last]) });
  }
  return {
    target,
    metricsUrl: metricsUrl ?? new URL('/metrics', target).href,
    gatewayPid: undefined,
    stubs: () => stubs,
    killChannel: (user) => killChannelOn(stubs, user),
    delay: (ms) => delayOn(stubs, ms),
    close: async () => {},
  };
}
