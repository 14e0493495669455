// report.svg: one self-contained chart of a run, readable at a glance. Five
// panels over one time axis, each with its own y axis: delivery latency
// p50/p99 (log scale, max as dots, the SLO line), throughput (sends accepted
// as an area, deliveries as a line), failed requests, users and held polls
// (held polls as an area under the lines), and CPU of the gateway, the stub
// nodes and the simulator. Above the panels, a lane of labels that never
// overlap one another or the data: every fault, the end of the ramp, the
// drain and the audit (shaded: after the measured window); a marker line
// runs from each label down through every panel. The verdict is on top.
import type { Sample } from './collect.js';
import type { Report } from './report.js';
import { formatDuration, parseSlo } from './settings.js';

const W = 1200;
const LEFT = 78;
const RIGHT = 200;
const PLOT_W = W - LEFT - RIGHT;
const FONT = "font-family='DejaVu Sans, Verdana, Arial, sans-serif'";

const C = {
  p50: '#1f77b4',
  p99: '#d62728',
  max: '#f4a6a6',
  slo: '#6b6b6b',
  sends: '#2ca02c',
  deliveries: '#1f77b4',
  errors: '#d62728',
  users: '#7b3fbf',
  held: '#17a2a2',
  started: '#9a9a9a',
  gateway: '#e377c2',
  stubs: ['#8c564b', '#bcbd22', '#ff7f0e', '#17becf', '#9467bd'],
  simulator: '#7f7f7f',
  fault: '#c0392b',
  grid: '#e6e6e6',
  axis: '#444',
  text: '#222',
};

/** Escapes text for SVG. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** A "nice" step for about `target` ticks up to `max`. */
function niceStep(max: number, target = 5): number {
  const raw = Math.max(max, 1e-9) / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

interface Panel {
  top: number;
  height: number;
  title: string;
}

interface Series {
  label: string;
  colour: string;
  values: (number | undefined)[];
  dash?: string;
  width?: number;
}

class Chart {
  private readonly parts: string[] = [];
  private readonly x: (t: number) => number;

  constructor(
    private readonly tMax: number,
    readonly height: number,
  ) {
    this.x = (t) => LEFT + (PLOT_W * t) / Math.max(1, tMax);
  }

  add(s: string): void {
    this.parts.push(s);
  }

  text(x: number, y: number, s: string, o: { size?: number; anchor?: string; colour?: string; weight?: string; rotate?: number } = {}): void {
    const rot = o.rotate ? ` transform='rotate(${o.rotate} ${x} ${y})'` : '';
    this.add(
      `<text x='${x.toFixed(1)}' y='${y.toFixed(1)}' ${FONT} font-size='${o.size ?? 12}' fill='${o.colour ?? C.text}' text-anchor='${o.anchor ?? 'start'}'${o.weight ? ` font-weight='${o.weight}'` : ''}${rot}>${esc(s)}</text>`,
    );
  }

  /** The frame, title, x grid of a panel; returns its y mapping. */
  panel(p: Panel, y: (v: number) => number, ticks: { v: number; label: string }[]): void {
    this.add(`<rect x='${LEFT}' y='${p.top}' width='${PLOT_W}' height='${p.height}' fill='#fcfcfc' stroke='${C.axis}' stroke-width='1'/>`);
    this.text(LEFT, p.top - 8, p.title, { size: 14, weight: 'bold' });
    for (const t of ticks) {
      const yy = y(t.v);
      if (yy < p.top - 0.5 || yy > p.top + p.height + 0.5) continue;
      this.add(`<line x1='${LEFT}' x2='${LEFT + PLOT_W}' y1='${yy.toFixed(1)}' y2='${yy.toFixed(1)}' stroke='${C.grid}'/>`);
      this.text(LEFT - 6, yy + 4, t.label, { anchor: 'end', size: 11, colour: '#555' });
    }
    const step = niceStep(this.tMax, 10);
    for (let t = 0; t <= this.tMax + 1e-9; t += step) {
      const xx = this.x(t);
      this.add(`<line x1='${xx.toFixed(1)}' x2='${xx.toFixed(1)}' y1='${p.top}' y2='${p.top + p.height}' stroke='${C.grid}'/>`);
    }
  }

  /** The time labels under a panel. */
  timeAxis(bottom: number): void {
    const step = niceStep(this.tMax, 10);
    const label = (t: number) => (this.tMax <= 120 ? `${Number(t.toFixed(1))} s` : `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, '0')}`);
    for (let t = 0; t <= this.tMax + 1e-9; t += step) this.text(this.x(t), bottom + 16, label(t), { anchor: 'middle', size: 11, colour: '#555' });
    this.text(LEFT + PLOT_W / 2, bottom + 34, this.tMax <= 120 ? 'time since the start' : 'time since the start (min:s)', { anchor: 'middle', size: 12, colour: '#555' });
  }

  /** A polyline per series, broken where a value is missing. */
  lines(times: number[], series: Series[], y: (v: number) => number): void {
    for (const s of series) {
      let d = '';
      let pen = false;
      for (let i = 0; i < times.length; i++) {
        const v = s.values[i];
        if (v === undefined || !Number.isFinite(v)) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${this.x(times[i]).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      }
      if (d) this.add(`<path d='${d}' fill='none' stroke='${s.colour}' stroke-width='${s.width ?? 2}' stroke-linejoin='round'${s.dash ? ` stroke-dasharray='${s.dash}'` : ''}/>`);
    }
  }

  /** A filled area from the bottom of a panel up to the values (no outline). */
  area(times: number[], values: (number | undefined)[], y: (v: number) => number, bottom: number, colour: string, opacity = 0.25): void {
    let run: string[] = [];
    const close = () => {
      if (run.length > 1) {
        const first = run[0].split(',')[0];
        const last = run[run.length - 1].split(',')[0];
        this.add(`<path d='M${first},${bottom}L${run.join('L')}L${last},${bottom}Z' fill='${colour}' opacity='${opacity}' stroke='none'/>`);
      }
      run = [];
    };
    for (let i = 0; i < times.length; i++) {
      const v = values[i];
      if (v === undefined || !Number.isFinite(v)) close();
      else run.push(`${this.x(times[i]).toFixed(1)},${y(v).toFixed(1)}`);
    }
    close();
  }

  /** A small dot per value. */
  dots(times: number[], values: (number | undefined)[], y: (v: number) => number, colour: string): void {
    for (let i = 0; i < times.length; i++) {
      const v = values[i];
      if (v !== undefined && Number.isFinite(v)) this.add(`<circle cx='${this.x(times[i]).toFixed(1)}' cy='${y(v).toFixed(1)}' r='2' fill='${colour}'/>`);
    }
  }

  /** Bars from the bottom of a panel. */
  bars(times: number[], values: number[], y: (v: number) => number, colour: string, bottom: number): void {
    const w = Math.max(1, PLOT_W / Math.max(1, this.tMax) - 1);
    for (let i = 0; i < times.length; i++) {
      if (!values[i]) continue;
      const yy = Math.max(y(values[i]), bottom - 1000);
      this.add(`<rect x='${(this.x(times[i]) - w).toFixed(1)}' y='${yy.toFixed(1)}' width='${w.toFixed(1)}' height='${(bottom - yy).toFixed(1)}' fill='${colour}' opacity='0.55'/>`);
    }
  }

  /** The legend right of a panel. */
  legend(p: Panel, items: { label: string; colour: string; dash?: string; box?: boolean; dot?: boolean }[]): void {
    let y = p.top + 14;
    const x = LEFT + PLOT_W + 14;
    for (const it of items) {
      if (it.box) this.add(`<rect x='${x}' y='${y - 8}' width='22' height='9' fill='${it.colour}' opacity='0.55'/>`);
      else if (it.dot) this.add(`<circle cx='${x + 11}' cy='${y - 4}' r='2.5' fill='${it.colour}'/>`);
      else this.add(`<line x1='${x}' x2='${x + 22}' y1='${y - 4}' y2='${y - 4}' stroke='${it.colour}' stroke-width='3'${it.dash ? ` stroke-dasharray='${it.dash}'` : ''}/>`);
      this.text(x + 28, y, it.label, { size: 12 });
      y += 18;
    }
  }

  /** A vertical marker over every panel. */
  marker(t: number, top: number, bottom: number, colour: string, dash: string, width = 1.5): void {
    const xx = this.x(t).toFixed(1);
    this.add(`<line x1='${xx}' x2='${xx}' y1='${top}' y2='${bottom}' stroke='${colour}' stroke-width='${width}' stroke-dasharray='${dash}'/>`);
  }

  band(t0: number, t1: number, top: number, bottom: number, colour: string, opacity = 0.1): void {
    const a = this.x(t0);
    const b = Math.max(a + 2, this.x(t1));
    this.add(`<rect x='${a.toFixed(1)}' y='${top}' width='${(b - a).toFixed(1)}' height='${bottom - top}' fill='${colour}' opacity='${opacity}'/>`);
  }

  toString(): string {
    return [
      `<svg xmlns='http://www.w3.org/2000/svg' width='${W}' height='${this.height}' viewBox='0 0 ${W} ${this.height}' role='img'>`,
      `<rect width='100%' height='100%' fill='white'/>`,
      ...this.parts,
      '</svg>',
    ].join('\n');
  }
}

function linear(p: Panel, max: number): { y: (v: number) => number; ticks: { v: number; label: string }[] } {
  const step = niceStep(max > 0 ? max : 1, 4);
  const top = Math.max(step, Math.ceil((max > 0 ? max : 1) / step) * step);
  const y = (v: number) => p.top + p.height - (p.height * Math.min(v, top)) / top;
  const ticks: { v: number; label: string }[] = [];
  for (let v = 0; v <= top + 1e-9; v += step) ticks.push({ v, label: num(v) });
  return { y, ticks };
}

const LOG_TICKS = [0.1, 1, 10, 100, 1000, 10_000, 100_000];

function logScale(p: Panel, lo: number, hi: number): { y: (v: number) => number; ticks: { v: number; label: string }[] } {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  const y = (v: number) => p.top + p.height - (p.height * (Math.log10(Math.min(hi, Math.max(lo, v))) - a)) / (b - a);
  const label = (v: number) => (v < 1000 ? `${v} ms` : `${v / 1000} s`);
  return { y, ticks: LOG_TICKS.filter((v) => v >= lo && v <= hi).map((v) => ({ v, label: label(v) })) };
}

/** A label in the lane above the panels, at time `t`, with a marker line down through the panels. */
interface LaneLabel {
  t: number;
  text: string;
  colour: string;
  bold: boolean;
  /** Marker line dash and width. */
  dash: string;
  width: number;
}

const LANE_ROW = 20;

/**
 * Rows for the lane's labels so that no two overlap: each goes in the first
 * row where it fits (right of its marker, or left of it near the right edge).
 */
function packLane(labels: LaneLabel[], x: (t: number) => number): { l: LaneLabel; x: number; w: number; row: number }[] {
  const rows: [number, number][][] = [];
  const out: { l: LaneLabel; x: number; w: number; row: number }[] = [];
  for (const l of [...labels].sort((a, b) => a.t - b.t)) {
    // 12 px text is about 7.6 px a character (bold) or 6.8 (regular) in the fonts Chromium picks here.
    const w = l.text.length * (l.bold ? 7.6 : 6.8) + 8;
    const xx = x(l.t);
    const lx = xx + w + 4 > LEFT + PLOT_W + RIGHT - 10 ? xx - 4 - w : xx + 4;
    let row = rows.findIndex((r) => r.every(([a, b]) => lx + w + 6 <= a || lx >= b + 6));
    if (row < 0) row = rows.push([]) - 1;
    rows[row].push([lx, lx + w]);
    out.push({ l, x: lx, w, row });
  }
  return out;
}

/** The chart of a report, as SVG text. */
export function renderSvg(r: Report): string {
  const S: Sample[] = r.samples;
  const times = S.map((s) => s.t);
  const tMax = Math.max(1, ...times);
  const st = r.settings;
  const x = (t: number) => LEFT + (PLOT_W * t) / Math.max(1, tMax);

  // ---- the lane: faults, the end of the ramp, the drain and the audit
  const ramp = Number(st.rampS);
  const end = Number(st.durationS);
  const firstOf = (ph: Sample['phase']) => S.find((s) => s.phase === ph)?.t;
  const drainAt = firstOf('drain') ?? (end < tMax ? end : undefined);
  const auditAt = firstOf('audit');
  const lane: LaneLabel[] = [];
  const phaseLabel = (t: number, text: string) => lane.push({ t, text, colour: '#555', bold: false, dash: '2 4', width: 1 });
  if (ramp > 0 && ramp < tMax) phaseLabel(ramp, 'ramp done');
  if (drainAt !== undefined) phaseLabel(drainAt - 1, 'window ends: sends stop, drain');
  if (auditAt !== undefined) phaseLabel(auditAt - 1, 'history audit (not load)');
  for (const f of r.faults)
    lane.push({ t: f.firedAtS, text: `${f.ok ? '' : 'FAILED '}${f.text.replace(/@[^@]*$/, '')} at ${f.firedAtS.toFixed(1)} s`, colour: C.fault, bold: true, dash: '6 3', width: 2 });
  const packed = packLane(lane, x);
  const laneTop = 100;
  const laneRows = Math.max(1, ...packed.map((p) => p.row + 1));
  const top0 = laneTop + laneRows * LANE_ROW + 34;

  const sizes: [number, string][] = [
    [230, 'Delivery latency, per second (log scale)'],
    [150, 'Throughput, per second'],
    [60, 'Failed requests, per second'],
    [150, 'Users and held polls'],
    [150, 'CPU, % of one core'],
  ];
  const panels: Panel[] = [];
  let y0 = top0;
  for (const [height, title] of sizes) {
    panels.push({ top: y0, height, title });
    y0 += height + 48;
  }
  const last = panels[panels.length - 1];
  const bottom = last.top + last.height;
  const chart = new Chart(tMax, bottom + 110);

  // ---- header: what ran, and the verdict
  const d = r.totals.latency.delivery;
  const L = r.ledger;
  chart.text(LEFT, 32, `beambridge darklaunch: ${num(r.plan.users)} users, ${formatDuration(Number(st.durationS) * 1000)}, seed ${st.seed}`, { size: 20, weight: 'bold' });
  chart.text(LEFT, 54, `${r.system.spawned ? `spawned: ${r.system.stubs.length} stub nodes and a gateway` : `target ${r.system.target}`} · ${st.sendsPerMin} send/min per user · presence every ${formatDuration(Number(st.presenceEveryS) * 1000)} · started ${r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`, { size: 12, colour: '#555' });
  const verdict = r.slo.met ? 'SLO met' : 'SLO NOT met';
  chart.add(`<rect x='${W - RIGHT - 10}' y='14' width='${RIGHT}' height='30' rx='4' fill='${r.slo.met ? '#2e7d32' : '#c62828'}'/>`);
  chart.text(W - RIGHT + RIGHT / 2 - 10, 35, verdict, { size: 16, weight: 'bold', colour: 'white', anchor: 'middle' });
  chart.text(W - 10, 60, r.settings.slo, { size: 11, colour: '#555', anchor: 'end' });
  const lostText = `${num(L.lost)} lost${L.lost ? ` (${num(L.lostExplained)} by faults)` : ''}`;
  chart.text(
    LEFT,
    84,
    `delivery p50 ${formatDuration(d.p50)} · p99 ${formatDuration(d.p99)} · max ${formatDuration(d.max)}   |   ${num(L.accepted)} accepted · ${num(L.delivered)} delivered · ${num(L.recoveredByHistory)} recovered by history · ${num(L.duplicated)} duplicated · ${lostText}`,
    { size: 14, colour: L.lostUnexplained > 0 ? C.errors : C.text },
  );

  // ---- 1: delivery latency
  const p1 = panels[0];
  const have = S.map((s) => s.delivery.count > 0);
  const sloMs = sloLine(r.settings.slo);
  const hi = Math.max(1000, ...S.map((s) => s.delivery.max), sloMs ?? 0) * 1.5;
  const lo = Math.min(1, ...S.filter((s) => s.delivery.count > 0).map((s) => Math.max(0.1, s.delivery.p50)));
  const ls = logScale(p1, lo >= 1 ? 1 : 0.1, 10 ** Math.ceil(Math.log10(hi)));
  chart.panel(p1, ls.y, ls.ticks);
  if (sloMs !== undefined) {
    const yy = ls.y(sloMs).toFixed(1);
    chart.add(`<line x1='${LEFT}' x2='${LEFT + PLOT_W}' y1='${yy}' y2='${yy}' stroke='${C.slo}' stroke-width='1.5' stroke-dasharray='8 4'/>`);
  }
  chart.dots(times, S.map((s, i) => (have[i] ? s.delivery.max : undefined)), ls.y, C.max);
  chart.lines(times, [
    { label: 'p50', colour: C.p50, values: S.map((s, i) => (have[i] ? s.delivery.p50 : undefined)) },
    { label: 'p99', colour: C.p99, values: S.map((s, i) => (have[i] ? s.delivery.p99 : undefined)) },
  ], ls.y);
  chart.legend(p1, [
    { label: 'p99', colour: C.p99 },
    { label: 'p50', colour: C.p50 },
    { label: 'max', colour: C.max, dot: true },
    ...(sloMs !== undefined ? [{ label: `SLO p99 ≤ ${formatDuration(sloMs)}`, colour: C.slo, dash: '8 4' }] : []),
  ]);

  // ---- 2: throughput
  const p2 = panels[1];
  const l2 = linear(p2, Math.max(...S.map((s) => Math.max(s.counters.sendsAccepted, s.deliveries)), 1));
  chart.panel(p2, l2.y, l2.ticks);
  chart.area(times, S.map((s) => s.counters.sendsAccepted), l2.y, p2.top + p2.height, C.sends, 0.3);
  chart.lines(times, [{ label: 'delivered/s', colour: C.deliveries, values: S.map((s) => s.deliveries) }], l2.y);
  chart.legend(p2, [
    { label: 'sends accepted', colour: C.sends, box: true },
    { label: 'delivered by poll', colour: C.deliveries },
  ]);

  // ---- 3: failed requests (their own axis: a few failures are visible next to thousands of sends)
  const p3 = panels[2];
  const errs = S.map((s) => s.counters.failures - s.counters.sendsRejected);
  const l3 = linear(p3, Math.max(...errs, 1));
  chart.panel(p3, l3.y, l3.ticks.filter((_, i, a) => i === 0 || i === a.length - 1));
  chart.bars(times, errs, l3.y, C.errors, p3.top + p3.height);
  chart.legend(p3, [{ label: 'failed requests', colour: C.errors, box: true }]);

  // ---- 4: users and polls
  const p4 = panels[3];
  const l4 = linear(p4, Math.max(...S.map((s) => Math.max(s.users.started, s.heldPolls, s.cost.gateway?.heldPolls ?? 0)), 1));
  chart.panel(p4, l4.y, l4.ticks);
  const gwHeld = S.map((s) => s.cost.gateway?.heldPolls);
  chart.area(times, S.map((s) => s.heldPolls), l4.y, p4.top + p4.height, C.held, 0.3);
  chart.lines(times, [
    { label: 'started', colour: C.started, values: S.map((s) => s.users.started), dash: '3 3', width: 1.5 },
    { label: 'signed in', colour: C.users, values: S.map((s) => s.users.active) },
    ...(gwHeld.some((v) => v !== undefined) ? [{ label: 'gateway', colour: '#0b5d5d', values: gwHeld, width: 1.5, dash: '1 3' }] : []),
  ], l4.y);
  chart.legend(p4, [
    { label: 'users started', colour: C.started, dash: '3 3' },
    { label: 'users signed in', colour: C.users },
    { label: 'polls held (pages)', colour: C.held, box: true },
    ...(gwHeld.some((v) => v !== undefined) ? [{ label: 'polls held (gateway)', colour: '#0b5d5d', dash: '1 3' }] : []),
  ]);

  // ---- 5: CPU
  const p5 = panels[4];
  const nodes = r.cost.stubs.map((s) => s.node);
  const cpuSeries: Series[] = [
    { label: 'gateway', colour: C.gateway, values: S.map((s) => s.cost.gateway?.cpuPct) },
    ...nodes.map((n, i) => ({ label: shortNode(n), colour: C.stubs[i % C.stubs.length], values: S.map((s) => s.cost.stubs?.find((x) => x.node === n)?.cpuPct) })),
    { label: 'simulator', colour: C.simulator, values: S.map((s) => s.cost.simulator.cpuPct), dash: '4 3' },
  ];
  const l5 = linear(p5, Math.max(100, ...cpuSeries.flatMap((s) => s.values.filter((v): v is number => v !== undefined))));
  chart.panel(p5, l5.y, l5.ticks);
  chart.lines(times, cpuSeries, l5.y);
  chart.legend(p5, cpuSeries.map((s) => ({ label: s.label, colour: s.colour, dash: s.dash })));
  chart.timeAxis(bottom);

  // ---- shading (translucent, over the panels): after the window (drain, audit), and the time each fault took
  if (drainAt !== undefined) for (const p of panels) chart.band(drainAt - 1, tMax, p.top, p.top + p.height, '#888', 0.14);
  for (const f of r.faults) {
    const done = f.doneAtS ?? f.firedAtS;
    if (done - f.firedAtS > 0.2) for (const p of panels) chart.band(f.firedAtS, done, p.top, p.top + p.height, C.fault);
  }

  // ---- markers from the lane down through every panel, then the labels over them
  for (const p of packed) chart.marker(p.l.t, laneTop + p.row * LANE_ROW + 17, bottom, p.l.colour, p.l.dash, p.l.width);
  for (const p of packed) {
    const ly = laneTop + p.row * LANE_ROW;
    chart.add(`<rect x='${p.x.toFixed(1)}' y='${ly}' width='${p.w.toFixed(1)}' height='17' rx='3' fill='white' stroke='${p.l.colour}' stroke-width='1'/>`);
    chart.text(p.x + 4, ly + 13, p.l.text, { size: 12, colour: p.l.colour, weight: p.l.bold ? 'bold' : undefined });
  }

  // ---- footer
  const errTop = Object.entries(r.totals.errors).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k} ×${num(n)}`).join(', ');
  chart.text(LEFT, bottom + 62, `requests ${num(r.totals.counters.requests)}, failed ${num(r.totals.counters.failures)}${errTop ? `: ${errTop}` : ''}`, { size: 12, colour: '#555' });
  const g = r.cost.gateway;
  const costLine = [
    g ? `gateway RSS max ${g.rssMBMax ?? '?'} MB` : undefined,
    ...r.cost.stubs.map((s) => `${shortNode(s.node)} RSS max ${s.rssMBMax ?? '?'} MB`),
    `simulator RSS max ${r.cost.simulator.rssMBMax} MB`,
    `load average ${r.machine.loadAvgStart[0]} → ${r.machine.loadAvgEnd[0]} on ${r.machine.cpus} CPUs`,
  ].filter(Boolean).join(' · ');
  chart.text(LEFT, bottom + 82, costLine, { size: 12, colour: '#555' });
  return chart.toString() + '\n';
}

function shortNode(n: string): string {
  return n.replace(/@.*$/, '').replace(/_\d+_[0-9a-f]+$/, '');
}

/** The delivery p99 bound of the SLO, in ms, if it has one. */
function sloLine(slo: string): number | undefined {
  try {
    return parseSlo(slo).find((c) => c.metric === 'p99')?.value;
  } catch {
    return undefined;
  }
}
