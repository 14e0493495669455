// Where a dark launch's time goes, per process: with DARKLAUNCH_DIAG=FILE in
// the environment, the gateway process (gateway-process.ts) and every
// simulator thread append one JSON line to FILE every DIAG_MS: event-loop
// delay (p50/p99/max, from perf_hooks.monitorEventLoopDelay), garbage
// collection (count, total and longest pause, by kind), and the thread's or
// process's CPU. Latency that shows up as event-loop delay in the simulator
// is queueing there, not in the gateway. Off (nothing measured) by default.
import { appendFileSync, readdirSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

const DIAG_MS = 5000;
const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };

/** Starts the diagnostics of this thread when DARKLAUNCH_DIAG names a file; a no-op otherwise. */
export function startDiagnostics(label: string): void {
  const file = process.env.DARKLAUNCH_DIAG;
  if (!file) return;
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  let gc = { n: 0, ms: 0, max: 0, byKind: {} as Record<string, { n: number; ms: number; max: number }> };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      const kind = GC_KINDS[e.detail?.kind ?? 0] ?? 'other';
      const k = (gc.byKind[kind] ??= { n: 0, ms: 0, max: 0 });
      gc.n++;
      gc.ms += e.duration;
      gc.max = Math.max(gc.max, e.duration);
      k.n++;
      k.ms += e.duration;
      k.max = Math.max(k.max, e.duration);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  let cpu = process.cpuUsage();
  let at = Date.now();
  const r = (x: number) => Math.round(x * 10) / 10;
  const timer = setInterval(() => {
    const now = Date.now();
    const c = process.cpuUsage();
    const mem = process.memoryUsage();
    const line = {
      label,
      thread: threadId,
      t: now,
      // Only the main thread's CPU is the process's (threads share the process counters).
      cpuPct: r(((c.user - cpu.user + c.system - cpu.system) / 1000 / (now - at)) * 100),
      eld: { p50: r(eld.percentile(50) / 1e6), p99: r(eld.percentile(99) / 1e6), max: r(eld.max / 1e6) },
      gc: { n: gc.n, ms: r(gc.ms), max: r(gc.max), byKind: Object.fromEntries(Object.entries(gc.byKind).map(([k, v]) => [k, { n: v.n, ms: r(v.ms), max: r(v.max) }])) },
      heapMB: r(mem.heapUsed / 1048576),
      rssMB: r(mem.rss / 1048576),
      fds: openFds(),
    };
    cpu = c;
    at = now;
    eld.reset();
    gc = { n: 0, ms: 0, max: 0, byKind: {} };
    try {
      appendFileSync(file, JSON.stringify(line) + '\n');
    } catch {
      /* diagnostics never fail the run */
    }
  }, DIAG_MS);
  timer.unref();
}

/** Open file descriptors of this process (sockets included); -1 where /proc is missing. */
function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}
