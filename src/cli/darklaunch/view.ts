// What a person sees during a run: on a terminal, a small panel redrawn in
// place every second (elapsed and remaining, users, polls held, sends/s,
// delivery p50/p99, errors, faults), with phase and fault lines scrolling
// above it; piped or with --json, one JSON object per line instead: a
// `sample` per second, `phase` and `fault` events, and a final `summary`.
import type { Style } from '../io.js';
import type { Sample } from './collect.js';
import type { FaultRecord } from './faults.js';
import type { Report } from './report.js';
import type { LiveStatus } from './run.js';
import { formatDuration } from './settings.js';

function clock(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

/** The live panel's lines. */
export function panelLines(l: LiveStatus, style: Style, p99Slo: number | undefined): string[] {
  const phase = l.phase === 'running' ? style.paint('green', 'running') : style.paint('yellow', l.phase);
  const p99 = formatDuration(l.p99);
  const p99Text = p99Slo !== undefined && l.p99 > p99Slo ? style.paint('red', p99) : p99;
  const errs = l.errorsPerS > 0 ? style.paint('yellow', `${l.errorsPerS}/s`) : '0/s';
  return [
    `${style.paint('bold', 'darklaunch')} ${phase}  ${clock(l.elapsedS)} elapsed, ${clock(l.remainingS)} left   faults ${l.faultsFired}/${l.faultsPlanned}`,
    `users ${l.usersStarted} started, ${l.usersActive} signed in · polls held ${l.heldPolls} · sends ${l.sendsPerS}/s · delivered ${l.deliveriesPerS}/s`,
    `delivery p50 ${formatDuration(l.p50)} p99 ${p99Text} · errors ${errs} (${l.errorsTotal} total) · in flight ${l.outstanding}`,
  ];
}

/** A panel of lines on a terminal, redrawn in place; other lines scroll above it. */
export class Panel {
  private shown = 0;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  draw(lines: string[]): void {
    let out = this.erase();
    out += lines.map((l) => `\x1b[2K${l}`).join('\n');
    this.stream.write(out);
    this.shown = lines.length;
  }

  /** Prints a line above the panel (the panel is drawn again on the next update). */
  log(line: string): void {
    this.stream.write(`${this.erase()}${line}\n`);
    this.shown = 0;
  }

  clear(): void {
    this.stream.write(this.erase());
    this.shown = 0;
  }

  private erase(): string {
    if (this.shown === 0) return '';
    return `\r\x1b[2K${'\x1b[1F\x1b[2K'.repeat(this.shown - 1)}`;
  }
}

/** The JSON line of a sample (everything but the histogram). */
export function sampleJson(s: Sample, l: LiveStatus): string {
  const { hist: _hist, ...rest } = s;
  return JSON.stringify({ type: 'sample', phase: l.phase, remainingS: l.remainingS, outstanding: l.outstanding, ...rest });
}

export function faultJson(f: FaultRecord): string {
  return JSON.stringify({ type: 'fault', ...f });
}

export function faultText(f: FaultRecord): string {
  return `fault ${f.text} at ${f.firedAtS.toFixed(1)} s: ${f.detail}`;
}

/** The final summary object: the report without the samples and cross-shard records. */
export function summaryJson(r: Report, out: { json: string; svg: string } | undefined): string {
  return JSON.stringify({
    type: 'summary',
    out,
    elapsedS: r.elapsedS,
    interrupted: r.interrupted,
    plan: r.plan,
    slo: r.slo,
    ledger: { ...r.ledger, lostMessages: r.ledger.lostMessages.slice(0, 20) },
    totals: { counters: r.totals.counters, errors: r.totals.errors, latency: r.totals.latency },
    cost: r.cost,
    faults: r.faults,
    machine: r.machine,
    simulatorErrors: r.simulatorErrors,
  });
}
