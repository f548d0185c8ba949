/**
 * Small statistics helpers: median over runs and percentiles over latency
 * samples.
 *
 * @module
 */

/** Median of a list (mean of the two middle values for even length); NaN when empty. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * Percentile `p` (0..100) of the first `count` samples, nearest-rank method.
 * Sorts the given prefix in place.
 */
export function percentile(samples: Float64Array, count: number, p: number): number {
  if (count <= 0) return NaN;
  const s = samples.subarray(0, count).sort();
  const rank = Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1));
  return s[rank];
}

/**
 * A bounded buffer of latency samples (ms). Beyond its capacity it keeps
 * every k-th sample (k doubling), so memory stays bounded at any duration.
 */
export class LatencyRecorder {
  readonly #samples: Float64Array;
  #count = 0;
  #stride = 1;
  #seen = 0;
  #max = -Infinity;

  /** @param capacity maximum number of samples kept */
  constructor(capacity: number) {
    this.#samples = new Float64Array(capacity);
  }

  /** Record one latency in milliseconds. */
  add(ms: number): void {
    this.#seen++;
    if (ms > this.#max) this.#max = ms;
    if (this.#seen % this.#stride !== 0) return;
    if (this.#count === this.#samples.length) {
      // Halve the kept samples and double the stride.
      let j = 0;
      for (let i = 0; i < this.#count; i += 2) this.#samples[j++] = this.#samples[i];
      this.#count = j;
      this.#stride *= 2;
    }
    this.#samples[this.#count++] = ms;
  }

  /** Number of latencies seen (not only kept). */
  get seen(): number {
    return this.#seen;
  }

  /** Percentiles p50 and p99 of the kept samples, and the exact maximum (ms). */
  summary(): { p50: number; p99: number; max: number } {
    const n = this.#count;
    return {
      p50: percentile(this.#samples, n, 50),
      p99: percentile(this.#samples, n, 99),
      max: n > 0 ? this.#max : NaN,
    };
  }
}
