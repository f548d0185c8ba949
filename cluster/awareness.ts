/**
 * Lifeguard's local health ("awareness"): a score in [0, max - 1] that rises while
 * this node misses acks and nacks it should have received, and falls with each
 * successful probe. Probe interval and timeout are scaled by `score + 1`, so a node
 * that is itself slow (CPU starved, paused) probes less eagerly and accuses less.
 * Modelled on hashicorp/memberlist `awareness.go`.
 *
 * @module
 */

/** Local health score. */
export class Awareness {
  #score = 0;
  readonly #max: number;

  /** @param maxMultiplier the largest timeout multiplier (score is capped at max - 1). */
  constructor(maxMultiplier: number) {
    if (!(maxMultiplier >= 1)) {
      throw new RangeError(`maxMultiplier must be >= 1, got ${maxMultiplier}`);
    }
    this.#max = maxMultiplier;
  }

  /** Adds `delta` and clamps to [0, max - 1]. */
  applyDelta(delta: number): void {
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta));
  }

  /** Current score: 0 is healthy. */
  get score(): number {
    return this.#score;
  }

  /** `timeoutMs * (score + 1)`. */
  scaleTimeoutMs(timeoutMs: number): number {
    return timeoutMs * (this.#score + 1);
  }
}
