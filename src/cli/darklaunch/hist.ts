// A latency histogram that can be merged: logarithmic buckets 2% wide from
// 10 us up (anything below falls in bucket 0), kept sparse, with the exact
// count, sum, min and max. Percentiles are accurate to the bucket width and
// never above the largest value seen. Reports store it in JSON so that
// `darklaunch merge` can combine runs exactly.

const BASE_MS = 0.01;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);

/** The JSON form: `b` holds `[bucket, count]` pairs, ascending. */
export interface HistogramJson {
  n: number;
  sum: number;
  min: number;
  max: number;
  b: [number, number][];
}

/** Percentiles of a histogram, in ms (0 when empty). */
export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function bucketOf(ms: number): number {
  return ms <= BASE_MS ? 0 : 1 + Math.floor(Math.log(ms / BASE_MS) / LOG_GROWTH);
}

/** The upper bound of a bucket, in ms. */
function bucketTop(b: number): number {
  return BASE_MS * GROWTH ** b;
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  /** Adds one value (ms; negative values count as 0). */
  add(ms: number): void {
    const v = ms > 0 && Number.isFinite(ms) ? ms : 0;
    const b = bucketOf(v);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Adds every value of another histogram. */
  merge(o: Histogram): this {
    for (const [b, c] of o.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + c);
    this.count += o.count;
    this.sum += o.sum;
    if (o.count > 0) {
      this.min = Math.min(this.min, o.min);
      this.max = Math.max(this.max, o.max);
    }
    return this;
  }

  /** The value at quantile `q` (0..1), in ms: the top of its bucket, at most the largest value. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketTop(b)));
    }
    return this.max;
  }

  /** count, p50, p90, p99, max and mean, rounded to 0.01 ms. */
  percentiles(): Percentiles {
    const r = (x: number) => Math.round(x * 100) / 100;
    if (this.count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    return {
      count: this.count,
      p50: r(this.quantile(0.5)),
      p90: r(this.quantile(0.9)),
      p99: r(this.quantile(0.99)),
      max: r(this.max),
      mean: r(this.sum / this.count),
    };
  }

  toJSON(): HistogramJson {
    return {
      n: this.count,
      sum: Math.round(this.sum * 1000) / 1000,
      min: this.count === 0 ? 0 : this.min,
      max: this.max,
      b: [...this.counts.entries()].sort((x, y) => x[0] - y[0]),
    };
  }

  static fromJSON(j: HistogramJson | undefined): Histogram {
    const h = new Histogram();
    if (!j) return h;
    for (const [b, c] of j.b) h.counts.set(b, c);
    h.count = j.n;
    h.sum = j.sum;
    h.min = j.n === 0 ? Infinity : j.min;
    h.max = j.max;
    return h;
  }

  /** A histogram of these values. */
  static of(values: Iterable<number>): Histogram {
    const h = new Histogram();
    for (const v of values) h.add(v);
    return h;
  }
}
