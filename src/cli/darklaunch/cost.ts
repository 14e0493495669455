// What the system under test costs, sampled every second: a process's RSS and
// CPU from /proc (for what the command spawned), the simulator's own, a stub
// node's `stats` over its control port, and the gateway's Prometheus
// /metrics (held polls, requests, backend call latency, and process figures
// when the gateway exports them).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { controlCommand } from '../../procs/stub.js';
import type { CostSample, StubCost } from './collect.js';

/** This system's value of a `getconf` variable, or `fallback` where getconf is missing or says nothing useful. */
function sysconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

// /proc/PID/stat counts CPU in clock ticks (USER_HZ) and RSS in pages (proc(5)).
// Both are asked once: pages are 16 or 64 KiB on some arm64 and ppc64 kernels.
let units: { clkTck: number; page: number } | undefined;
const procUnits = () => (units ??= { clkTck: sysconf('CLK_TCK', 100), page: sysconf('PAGESIZE', 4096) });

/** RSS and CPU of one process, from /proc/PID/stat; CPU is per interval between samples. */
export class ProcStat {
  private last: { ticks: number; at: number } | undefined;

  constructor(readonly pid: number) {}

  /** `{ rssMB, cpuPct }` since the previous sample, or undefined when the process is gone. */
  sample(): { rssMB: number; cpuPct: number } | undefined {
    let text: string;
    try {
      text = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    } catch {
      this.last = undefined;
      return undefined;
    }
    // Fields after the command name (which may hold spaces) start at ") ".
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const { clkTck, page } = procUnits();
    const ticks = Number(f[11]) + Number(f[12]);
    const rssMB = (Number(f[21]) * page) / 1048576;
    const at = performance.now();
    const prev = this.last;
    this.last = { ticks, at };
    const cpuPct = prev ? (((ticks - prev.ticks) / clkTck) * 100_000) / Math.max(1, at - prev.at) : 0;
    return { rssMB: round1(rssMB), cpuPct: round1(cpuPct) };
  }
}

/** This process (the simulator, with all its worker threads). */
export class SelfStat {
  private last = { cpu: process.cpuUsage(), at: performance.now() };

  sample(): { rssMB: number; cpuPct: number } {
    const cpu = process.cpuUsage();
    const at = performance.now();
    const used = cpu.user - this.last.cpu.user + (cpu.system - this.last.cpu.system);
    const cpuPct = used / 10 / Math.max(1, at - this.last.at);
    this.last = { cpu, at };
    return { rssMB: round1(process.memoryUsage.rss() / 1048576), cpuPct: round1(cpuPct) };
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** One stub node's `stats` over its control port; `up: false` when it does not answer within `timeoutMs`. */
export async function stubStats(node: string, controlPort: number, timeoutMs = 900): Promise<StubCost> {
  try {
    const r = await controlCommand(controlPort, 'stats', timeoutMs);
    const s = (r.stats ?? {}) as Record<string, unknown>;
    const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
    return {
      node: typeof s.node === 'string' ? s.node : node,
      up: r.ok === true,
      online: num('online'),
      heldPolls: num('held_polls'),
      messages: num('messages'),
      processes: num('processes'),
      delayMs: num('delay_ms'),
    };
  } catch {
    return { node, up: false };
  }
}

/** One sample of a Prometheus text exposition: name -> [labels, value][]. */
export type PromSamples = Map<string, { labels: Record<string, string>; value: number }[]>;

/** Parses the Prometheus text format (comments and types are skipped). */
export function parseProm(text: string): PromSamples {
  const out: PromSamples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    let list = out.get(m[1]);
    if (!list) out.set(m[1], (list = []));
    list.push({ labels, value });
  }
  return out;
}

function sum(p: PromSamples, name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  const l = p.get(name);
  return l ? l.reduce((a, x) => a + x.value, 0) : undefined;
}

function find(p: PromSamples, re: RegExp): string | undefined {
  for (const k of p.keys()) if (re.test(k)) return k;
  return undefined;
}

/** Cumulative bucket counts of a histogram family, summed over the series `keep` accepts: [le, count][] ascending. */
function buckets(p: PromSamples, name: string, keep: (labels: Record<string, string>) => boolean = () => true): [number, number][] {
  const by = new Map<number, number>();
  for (const x of p.get(name) ?? []) {
    if (!keep(x.labels)) continue;
    const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
    by.set(le, (by.get(le) ?? 0) + x.value);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

/** Calls and p50/p99 (ms) in one interval from two scrapes of a histogram. */
function histDelta(now: PromSamples, before: PromSamples, name: string, keep?: (labels: Record<string, string>) => boolean): { calls: number; p50: number; p99: number } {
  const was = new Map(buckets(before, name, keep));
  const delta = buckets(now, name, keep).map(([le, c]) => [le, Math.max(0, c - (was.get(le) ?? 0))] as [number, number]);
  const calls = delta.length ? delta[delta.length - 1][1] : 0;
  return { calls, p50: round1(bucketQuantile(delta, 0.5) * 1000), p99: round1(bucketQuantile(delta, 0.99) * 1000) };
}

/** Backend methods that hold by design (long-polls): left out of the backend latency figure. */
const HELD = /poll|subscribe/i;

/** A quantile from cumulative bucket counts (as histogram_quantile does: linear within the bucket). Seconds. */
export function bucketQuantile(b: [number, number][], q: number): number {
  const total = b.length ? b[b.length - 1][1] : 0;
  if (total === 0) return 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of b) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/**
 * Scrapes a gateway's /metrics and turns counters into per-second figures.
 * A loaded gateway may take seconds to answer: a scrape waits up to
 * `timeoutMs`, and its rates cover the time since the previous answer.
 */
export class MetricsScraper {
  private last: { p: PromSamples; at: number } | undefined;
  private failing = false;

  constructor(
    readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** The gateway's figures since the previous answer (`requests` and backend `calls` per second); undefined when /metrics does not answer. */
  async sample(): Promise<CostSample['gateway'] | undefined> {
    const text = await get(this.url, this.timeoutMs).catch(() => undefined);
    if (text === undefined) {
      this.failing = true;
      return undefined;
    }
    this.failing = false;
    const p = parseProm(text);
    const at = performance.now();
    const prev = this.last;
    this.last = { p, at };
    const out: NonNullable<CostSample['gateway']> = {};
    const held = sum(p, find(p, /(held_polls|polls_held)/));
    if (held !== undefined) out.heldPolls = held;
    const rss = sum(p, 'process_resident_memory_bytes');
    if (rss !== undefined) out.rssMB = round1(rss / 1048576);
    if (!prev) return out;
    const dt = Math.max(1, at - prev.at) / 1000;
    const cpu = sum(p, 'process_cpu_seconds_total');
    const cpu0 = sum(prev.p, 'process_cpu_seconds_total');
    if (cpu !== undefined && cpu0 !== undefined) out.cpuPct = round1(((cpu - cpu0) / dt) * 100);
    const reqName = find(p, /requests_total$/);
    const req = sum(p, reqName);
    const req0 = sum(prev.p, reqName);
    if (req !== undefined && req0 !== undefined) out.requests = round1(Math.max(0, req - req0) / dt);
    const hist = find(p, /backend.*_bucket$/);
    if (hist) {
      const method = (l: Record<string, string>) => l.method ?? l.call ?? '';
      const perSecond = (d: { calls: number; p50: number; p99: number }) => ({ ...d, calls: round1(d.calls / dt) });
      out.backend = perSecond(histDelta(p, prev.p, hist, (l) => !HELD.test(method(l))));
      const methods = new Set((p.get(hist) ?? []).map((x) => method(x.labels)).filter(Boolean));
      const byMethod: Record<string, { calls: number; p50: number; p99: number }> = {};
      for (const m of methods) {
        const d = histDelta(p, prev.p, hist, (l) => method(l) === m);
        if (d.calls > 0) byMethod[m] = perSecond(d);
      }
      out.backend.byMethod = byMethod;
    }
    return out;
  }

  get down(): boolean {
    return this.failing;
  }
}

/** GET `url`'s body; rejects on a status other than 200 or when the whole exchange takes longer than `timeoutMs`. */
function get(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (e: Error | undefined, text?: string) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (e) {
        req.destroy();
        reject(e);
      } else resolve(text!);
    };
    // One deadline for connecting, waiting and reading (a socket timeout alone misses a trickling answer).
    const deadline = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? finish(undefined, Buffer.concat(chunks).toString('utf8')) : finish(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', (e) => finish(e));
      res.on('close', () => finish(new Error('connection closed before the answer ended')));
    });
    req.on('error', (e) => finish(e));
    req.end();
  });
}
