// The settings of one dark-launch run and the parsers for the values the
// command line gives them: durations (`90s`, `1m30s`, `500ms`), faults
// (`kill-node:1@20s`), shards (`2/3`) and SLOs (`p99<=1s,lost=0`). A bad value
// is a UsageError (exit status 2).
import { UsageError } from '../io.js';

/** A fault to inject at `atMs` after the start (see `--fault`). */
export type FaultSpec =
  | { kind: 'kill-channel'; user: string; atMs: number; text: string }
  | { kind: 'kill-node'; node: number; atMs: number; text: string }
  | { kind: 'restart-gateway'; atMs: number; text: string }
  | { kind: 'delay'; ms: number; atMs: number; text: string };

/** One condition of the SLO. Latencies are delivery latencies over the whole run, in ms. */
export interface SloCondition {
  metric: 'p50' | 'p90' | 'p99' | 'max' | 'lost' | 'duplicated' | 'errors';
  op: '<=' | '<' | '=';
  /** ms for latencies, a count for lost/duplicated, a fraction of requests for errors. */
  value: number;
  text: string;
}

/** Everything a run needs; defaults are filled in by {@link defaultSettings}. */
export interface DarklaunchSettings {
  /** The gateway URL (with `spawn`, the spawned gateway's URL once it is up). */
  target: string | undefined;
  /** Start epmd, a stub cluster and a gateway, and stop them at the end. */
  spawn: boolean;
  /** Stub nodes to spawn (`--stub-nodes`). */
  stubNodes: number;
  /** The spawned gateway's backend transport. */
  transport: 'dist' | 'thrift';
  /** Simulated users over all shards: ids `firstUser .. firstUser + users - 1`. */
  users: number;
  firstUser: number;
  /** Friends per user in the spawned stub's seeded graph. */
  friends: number;
  rampMs: number;
  durationMs: number;
  seed: number;
  workers: number;
  shard: { index: number; count: number };
  presenceEveryMs: number;
  sendsPerMin: number;
  /** Share of sends preceded by typing notices. */
  typingShare: number;
  /** Share of users who go idle once (for `idleForMs`) and come back. */
  idleShare: number;
  idleForMs: number;
  /** Share of users who log out once and sign in again a few seconds later. */
  reloginShare: number;
  /** After the duration: keep polling up to this long for messages still in flight. */
  drainMs: number;
  /** The spawned gateway's poll timeout (ms). */
  pollTimeoutMs: number;
  faults: FaultSpec[];
  slo: SloCondition[];
  /** The stub nodes' control ports (on 127.0.0.1, where the stub listens) for faults and stats when not spawning. */
  stubControl: number[];
  /** Where to read Prometheus metrics from (default TARGET/metrics). */
  metricsUrl: string | undefined;
}

/** The default SLO: delivery p99 at most 1 s and nothing lost that a fault does not explain. */
export const DEFAULT_SLO = 'p99<=1s,lost=0';

/** Settings with every default. */
export function defaultSettings(over: Partial<DarklaunchSettings> = {}): DarklaunchSettings {
  return {
    target: undefined,
    spawn: false,
    stubNodes: 2,
    transport: 'dist',
    users: 1000,
    firstUser: 1,
    friends: 50,
    rampMs: 30_000,
    durationMs: 120_000,
    seed: 1,
    workers: 2,
    shard: { index: 1, count: 1 },
    presenceEveryMs: 60_000,
    sendsPerMin: 1,
    typingShare: 0.3,
    idleShare: 0.1,
    idleForMs: 120_000,
    reloginShare: 0.05,
    drainMs: 10_000,
    pollTimeoutMs: 25_000,
    faults: [],
    slo: parseSlo(DEFAULT_SLO),
    stubControl: [],
    metricsUrl: undefined,
    ...over,
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration: `500ms`, `30s`, `2m`, `1h`, compounds such as `1m30s`, or a
 * bare number of seconds. Returns milliseconds.
 */
export function parseDuration(text: string, what: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s)) !== null) {
    ms += Number(m[1]) * UNIT_MS[m[2]];
    end = re.lastIndex;
  }
  if (end === 0 || end !== s.length) throw new UsageError(`${what} must be a duration such as 500ms, 30s, 2m or 1m30s, not '${text}'`);
  return Math.round(ms);
}

/** A duration for people: `850 ms`, `12.5 s`, `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))} s`;
  const min = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s === 0 ? `${min} min` : `${min} min ${s} s`;
}

/** `--shard i/n`: the i-th (1-based) of n slices of the user space. */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new UsageError(`--shard must be i/n with 1 <= i <= n, such as 2/3, not '${text}'`);
  return { index, count };
}

/**
 * `--fault WHAT@TIME`: `kill-channel:USER`, `kill-node:N` (1-based, a spawned
 * stub node), `restart-gateway` or `delay:MS` (every stub node's replies; 0
 * ends it), at TIME after the start.
 */
export function parseFault(text: string): FaultSpec {
  const at = text.lastIndexOf('@');
  if (at < 0) throw new UsageError(`--fault must be WHAT@TIME, such as kill-node:1@30s, not '${text}'`);
  const what = text.slice(0, at);
  const atMs = parseDuration(text.slice(at + 1), `the time of --fault ${text}`);
  const [kind, arg, ...rest] = what.split(':');
  const bad = (want: string) => new UsageError(`--fault ${text}: ${want}`);
  if (rest.length > 0) throw bad('too many ":" parts');
  switch (kind) {
    case 'kill-channel':
      if (arg === undefined || !/^-?\d+$/.test(arg)) throw bad('kill-channel needs a user id, as in kill-channel:42@20s');
      return { kind, user: BigInt(arg).toString(), atMs, text };
    case 'kill-node':
      if (arg === undefined || !/^\d+$/.test(arg) || Number(arg) < 1) throw bad('kill-node needs a stub node number from 1, as in kill-node:1@20s');
      return { kind, node: Number(arg), atMs, text };
    case 'restart-gateway':
      if (arg !== undefined) throw bad('restart-gateway takes no argument');
      return { kind, atMs, text };
    case 'delay':
      if (arg === undefined || !/^\d+$/.test(arg)) throw bad('delay needs milliseconds, as in delay:200@20s (delay:0 ends it)');
      return { kind, ms: Number(arg), atMs, text };
    default:
      throw bad(`unknown fault '${kind}' (kill-channel:USER, kill-node:N, restart-gateway, delay:MS)`);
  }
}

/**
 * `--slo`: comma-separated conditions `METRIC OP VALUE`, with METRIC one of
 * p50, p90, p99, max (delivery latency over the run: a duration), lost (messages
 * lost that no fault explains), duplicated (counts), errors (failed requests:
 * a count, or a share such as 1%), and OP one of <=, <, =.
 */
export function parseSlo(text: string): SloCondition[] {
  const out: SloCondition[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(p50|p90|p99|max|lost|duplicated|errors)\s*(<=|<|=)\s*(\S+)$/.exec(part);
    if (!m) throw new UsageError(`--slo: cannot read '${part}' (use p50|p90|p99|max|lost|duplicated|errors with <=, < or =, e.g. ${DEFAULT_SLO})`);
    const metric = m[1] as SloCondition['metric'];
    const op = m[2] as SloCondition['op'];
    let value: number;
    if (metric === 'lost' || metric === 'duplicated') {
      if (!/^\d+$/.test(m[3])) throw new UsageError(`--slo: ${metric} needs a count, not '${m[3]}'`);
      value = Number(m[3]);
    } else if (metric === 'errors') {
      const pct = /^(\d+(?:\.\d+)?)%$/.exec(m[3]);
      if (pct) value = Number(pct[1]) / 100;
      else if (/^\d+$/.test(m[3])) value = Number(m[3]);
      else throw new UsageError(`--slo: errors needs a count or a share such as 1%, not '${m[3]}'`);
      if (pct && value >= 1) throw new UsageError('--slo: an errors share must be below 100%');
    } else {
      value = parseDuration(m[3], `--slo ${metric}`);
    }
    out.push({ metric, op, value, text: part });
  }
  if (out.length === 0) throw new UsageError('--slo is empty');
  return out;
}

/** `--stub-control PORT,PORT,...`: the stub nodes' control ports (they listen on 127.0.0.1 only). */
export function parseControl(text: string): number[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const port = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new UsageError(`--stub-control needs control ports such as 40811,40812, not '${s}'`);
    return port;
  });
}

/** Checks settings that parse on their own but not together; throws UsageError. */
export function checkSettings(s: DarklaunchSettings): void {
  if (!s.spawn && s.target === undefined) throw new UsageError('give a gateway URL (TARGET) or --spawn');
  if (s.spawn && s.target !== undefined) throw new UsageError('give either a TARGET or --spawn, not both');
  if (s.target !== undefined) {
    let u: URL;
    try {
      u = new URL(s.target);
    } catch {
      throw new UsageError(`TARGET must be a URL such as http://127.0.0.1:8080/, not '${s.target}'`);
    }
    if (u.protocol !== 'http:') throw new UsageError(`TARGET must be an http:// URL, not '${s.target}'`);
  }
  if (s.rampMs > s.durationMs) throw new UsageError('--ramp must not be longer than --duration');
  if (s.users < 1) throw new UsageError('--users must be at least 1');
  if (s.shard.count > s.users) throw new UsageError('--shard: more slices than users');
  for (const f of s.faults) {
    if (f.atMs > s.durationMs) throw new UsageError(`--fault ${f.text}: after the end of the run (--duration ${formatDuration(s.durationMs)})`);
    if ((f.kind === 'kill-node' || f.kind === 'restart-gateway') && !s.spawn) throw new UsageError(`--fault ${f.text} needs --spawn (it kills or restarts what the command started)`);
    if (f.kind === 'kill-node' && f.node > s.stubNodes) throw new UsageError(`--fault ${f.text}: there are only ${s.stubNodes} stub nodes`);
    if ((f.kind === 'kill-channel' || f.kind === 'delay') && !s.spawn && s.stubControl.length === 0)
      throw new UsageError(`--fault ${f.text} needs the stubs' control ports: --spawn, or --stub-control PORT,...`);
  }
}
