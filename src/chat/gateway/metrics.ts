// The gateway's metrics in the Prometheus text exposition format (version
// 0.0.4): counters and gauges keyed by label values, and one latency
// histogram per backend method. Nothing here is exported from the package.

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function labels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  return `{${names.map((n, i) => `${n}="${values[i].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

class Family {
  readonly values = new Map<string, { labelValues: string[]; v: number }>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge', readonly labelNames: readonly string[]) {}

  inc(labelValues: string[], by = 1): void {
    const key = labelValues.join('\u0000');
    const e = this.values.get(key);
    if (e) e.v += by;
    else this.values.set(key, { labelValues, v: by });
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`);
    for (const { labelValues, v } of this.values.values()) out.push(`${this.name}${labels(this.labelNames, labelValues)} ${v}`);
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; n: number }>();
  constructor(readonly name: string, readonly help: string, readonly labelName: string) {}

  observe(labelValue: string, seconds: number): void {
    let s = this.series.get(labelValue);
    if (!s) this.series.set(labelValue, (s = { counts: BUCKETS.map(() => 0), sum: 0, n: 0 }));
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) s.counts[i]++;
    s.sum += seconds;
    s.n++;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const [lv, s] of this.series) {
      BUCKETS.forEach((b, i) => out.push(`${this.name}_bucket${labels([this.labelName, 'le'], [lv, String(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labels([this.labelName, 'le'], [lv, '+Inf'])} ${s.n}`);
      out.push(`${this.name}_sum${labels([this.labelName], [lv])} ${s.sum}`);
      out.push(`${this.name}_count${labels([this.labelName], [lv])} ${s.n}`);
    }
  }
}

/** Counters of one gateway; `render()` gives the text of `GET /metrics`. */
export class GatewayMetrics {
  readonly requests = new Family('beambridge_gateway_requests_total', 'HTTP requests answered, by route and status.', 'counter', ['route', 'status']);
  readonly errors = new Family('beambridge_gateway_errors_total', 'Error answers and backend failures, by code.', 'counter', ['code']);
  readonly backend = new Histogram('beambridge_gateway_backend_call_seconds', 'Latency of backend calls, by method.', 'method');
  readonly presenceCalls = new Family('beambridge_gateway_presence_calls_total', 'Batched presence() calls to the backend.', 'counter', []);
  readonly presenceIds = new Family('beambridge_gateway_presence_ids_total', 'User ids asked in batched presence() calls.', 'counter', []);
  readonly presencePushes = new Family('beambridge_gateway_presence_changes_total', 'Friend presence changes pushed to signed-in users.', 'counter', []);

  constructor(private readonly gauges: () => Record<string, [string, number]>) {}

  render(): string {
    const out: string[] = [];
    for (const [name, [help, v]] of Object.entries(this.gauges())) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${v}`);
    this.requests.render(out);
    this.errors.render(out);
    this.backend.render(out);
    this.presenceCalls.render(out);
    this.presenceIds.render(out);
    this.presencePushes.render(out);
    return `${out.join('\n')}\n`;
  }
}
