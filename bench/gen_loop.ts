/**
 * Shared machinery of the throughput scenarios: loss accounting by sequence
 * number, and a timed closed-loop run (warm-up, measured phase, drain), bounded
 * in time and in message count.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { type PhaseCpu, PhaseMeter } from "./procstat.ts";
import { sleep } from "./gen_client.ts";

/**
 * Tracks sequence numbers per publisher as seen by one receiver. A jump
 * forward counts as a gap (loss), a step back as a duplicate/reorder.
 */
export class SeqTracker {
  readonly #next: Float64Array;
  /** Messages received (including duplicates). */
  received = 0;
  /** Sequence numbers skipped so far. */
  gaps = 0;
  /** Messages received with a sequence number already passed. */
  duplicates = 0;
  /** Messages with a publisher index this tracker does not know. */
  foreign = 0;
  #passed = 0;

  /** @param publishers number of publishers (indices 0..publishers-1) */
  constructor(publishers: number) {
    this.#next = new Float64Array(publishers);
  }

  /**
   * Record one received message. Returns by how much {@link SeqTracker.passed}
   * advanced (1 in order, more after a gap, 0 for a duplicate).
   */
  record(publisher: number, seq: number): number {
    this.received++;
    if (publisher < 0 || publisher >= this.#next.length) {
      this.foreign++;
      return 0;
    }
    const expected = this.#next[publisher];
    if (seq === expected) {
      this.#next[publisher] = expected + 1;
      this.#passed++;
      return 1;
    }
    if (seq > expected) {
      this.gaps += seq - expected;
      this.#next[publisher] = seq + 1;
      this.#passed += seq + 1 - expected;
      return seq + 1 - expected;
    }
    this.duplicates++;
    return 0;
  }

  /**
   * Messages received or skipped by a gap (Σ next expected sequence number):
   * what the closed loop subtracts from "sent", so that lost messages do not
   * shrink the window forever.
   */
  get passed(): number {
    return this.#passed;
  }

  /** Unique messages received in order so far (received minus duplicates/foreign). */
  get unique(): number {
    return this.received - this.duplicates - this.foreign;
  }

  /** Messages lost given how many each publisher sent: gaps plus the missing tail. */
  lost(sentPerPublisher: readonly number[]): number {
    let lost = this.gaps;
    for (let p = 0; p < this.#next.length; p++) {
      lost += Math.max(0, (sentPerPublisher[p] ?? 0) - this.#next[p]);
    }
    return lost;
  }
}

/** Run-state shared between a scenario's pump and {@link timedRun}. */
export interface RunControl {
  /** Publishers may send while true. */
  running: boolean;
  /** True during the measured phase (latency samples are taken only then). */
  measuring: boolean;
  /**
   * Messages written off after a stall (no progress for {@link STALL_MS}):
   * the pumps subtract them from what is outstanding, so a lost tail cannot
   * freeze the loop.
   */
  forgiven: number;
}

/** No progress for this long while publishing counts as a stall. */
export const STALL_MS = 500;

/** Inputs of {@link timedRun}. */
export interface TimedRunOptions {
  /** Shared state; `running` is set false at the end of the measured phase. */
  readonly ctl: RunControl;
  /** Measured phase length (ms). */
  readonly durationMs: number;
  /** Warm-up before measuring (ms). */
  readonly warmupMs: number;
  /** Broker PID for its CPU share. */
  readonly brokerPid: number;
  /** Sends what the closed loop allows; called on a timer too, so a stall resumes. */
  readonly pump: () => void;
  /** Count of the figure being measured (messages or deliveries received). */
  readonly progress: () => number;
  /** Whether everything sent has arrived (ends the drain early). */
  readonly drained: () => boolean;
  /** Longest wait for in-flight messages after publishing stopped (ms). */
  readonly drainTimeoutMs: number;
  /** Safety net: the pump refuses to exceed this many messages. */
  readonly maxMessages: number;
  /** Messages sent so far, checked against maxMessages. */
  readonly sent: () => number;
  /** Outstanding messages (in the pump's unit) to forgive on a stall. */
  readonly outstanding: () => number;
}

/** Outcome of {@link timedRun}. */
export interface TimedRunResult {
  /** `progress()` per second over the measured phase. */
  readonly perSecond: number;
  /** CPU of generator, broker and others during the measured phase. */
  readonly cpu: PhaseCpu;
  /** False when the drain timed out with messages still missing. */
  readonly drainedAll: boolean;
  /** True when the message cap stopped publishing early. */
  readonly capped: boolean;
  /** Stalls (no progress for {@link STALL_MS}) that were forgiven. */
  readonly stalls: number;
}

/**
 * Warm up, measure for `durationMs`, stop publishing, then wait (bounded) for
 * in-flight messages. A 2 ms timer re-runs the pump so the loop never stalls.
 */
export async function timedRun(o: TimedRunOptions): Promise<TimedRunResult> {
  const meter = new PhaseMeter(o.brokerPid);
  let capped = false;
  let stalls = 0;
  let lastProgress = -1;
  let lastProgressAt = performance.now();
  const pumpGuarded = (): void => {
    if (!o.ctl.running) return;
    if (o.sent() >= o.maxMessages) {
      capped = true;
      return;
    }
    const now = performance.now();
    const p = o.progress();
    if (p !== lastProgress) {
      lastProgress = p;
      lastProgressAt = now;
    } else if (now - lastProgressAt > STALL_MS) {
      const out = o.outstanding();
      if (out > 0) {
        o.ctl.forgiven += out;
        stalls++;
      }
      lastProgressAt = now;
    }
    o.pump();
  };
  const timer = setInterval(pumpGuarded, 2);
  try {
    pumpGuarded();
    await sleep(o.warmupMs);
    const p0 = o.progress();
    const t0 = performance.now();
    meter.start();
    o.ctl.measuring = true;
    await sleep(o.durationMs);
    o.ctl.measuring = false;
    const p1 = o.progress();
    const t1 = performance.now();
    const cpu = meter.stop();
    o.ctl.running = false;
    const drainDeadline = performance.now() + o.drainTimeoutMs;
    while (!o.drained() && performance.now() < drainDeadline) await sleep(10);
    return {
      perSecond: (p1 - p0) / ((t1 - t0) / 1000),
      cpu,
      drainedAll: o.drained(),
      capped,
      stalls,
    };
  } finally {
    o.ctl.running = false;
    clearInterval(timer);
  }
}

/**
 * Wrap `fn` so that many calls within one event-loop turn run it once, after
 * the turn's I/O callbacks (`setImmediate`). Coalescing writes this way cuts
 * the generator's syscalls, which dominate its CPU on loopback.
 */
export function oncePerTurn(fn: () => void): () => void {
  let scheduled = false;
  const run = (): void => {
    scheduled = false;
    fn();
  };
  return () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(run);
  };
}
