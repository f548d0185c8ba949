/**
 * Lifeguard's suspicion timer: it starts at `maxMs` and shrinks logarithmically towards
 * `minMs` as independent members confirm the suspicion, reaching `minMs` after `k`
 * confirmations. Pure: the owner asks for the deadline and compares it with its clock.
 * Modelled on hashicorp/memberlist `suspicion.go`.
 *
 * @module
 */

/**
 * The timeout after `confirmations` of `k` expected confirmations:
 * `max - log(c + 1) / log(k + 1) * (max - min)`, never below `min`.
 */
export function suspicionTimeoutMs(
  confirmations: number,
  k: number,
  minMs: number,
  maxMs: number,
): number {
  if (k < 1) return minMs;
  const fraction = Math.log(confirmations + 1) / Math.log(k + 1);
  const raw = Math.floor(maxMs - fraction * (maxMs - minMs));
  return Math.max(minMs, raw);
}

/**
 * The minimum suspicion timeout for a cluster of `n` members:
 * `mult * max(1, log10(max(1, n))) * probeIntervalMs`.
 */
export function minSuspicionTimeoutMs(mult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor(mult * nodeScale * probeIntervalMs);
}

/** One suspicion about one member, started by the first accuser. */
export class Suspicion {
  readonly startMs: number;
  readonly k: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly #confirmers = new Set<string>();

  /**
   * @param from the first accuser (not counted as a confirmation)
   * @param k confirmations needed to reach `minMs`; below 1 the timeout is `minMs`
   */
  constructor(from: string, k: number, minMs: number, maxMs: number, startMs: number) {
    this.k = k;
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.startMs = startMs;
    this.#confirmers.add(from);
  }

  /** Independent confirmations received so far (the first accuser excluded). */
  get confirmations(): number {
    return this.#confirmers.size - 1;
  }

  /**
   * Records a confirmation by `from`. Returns true when it was new and counted (the
   * caller then re-gossips the suspicion), false for a repeat or once `k` is reached.
   */
  confirm(from: string): boolean {
    if (this.confirmations >= this.k) return false;
    if (this.#confirmers.has(from)) return false;
    this.#confirmers.add(from);
    return true;
  }

  /** When the member is to be declared dead. */
  deadlineMs(): number {
    return this.startMs + suspicionTimeoutMs(this.confirmations, this.k, this.minMs, this.maxMs);
  }
}
