/**
 * Process measurements from /proc (Linux): CPU time and resident memory of a
 * process, read without touching it, so the broker under test pays nothing.
 *
 * @module
 */

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux x86/arm). */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * User + system CPU seconds consumed so far by process `pid` (all threads).
 * Resolution is one clock tick (10 ms).
 */
export function readCpuSeconds(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot parse utime/stime from /proc/${pid}/stat: ${text.slice(0, 120)}`);
  }
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size (VmRSS) of process `pid`, in bytes. */
export function readRssBytes(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  if (m === null) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Whether process `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * Measures CPU use of a process over an interval: `start()` then `stop()`
 * returns CPU seconds and the share of one core (1.0 = one core busy).
 */
export class CpuMeter {
  readonly #pid: number;
  #cpu0 = 0;
  #t0 = 0;

  /** @param pid process to measure */
  constructor(pid: number) {
    this.#pid = pid;
  }

  /** Mark the beginning of the interval. */
  start(): void {
    this.#cpu0 = readCpuSeconds(this.#pid);
    this.#t0 = performance.now();
  }

  /** End the interval: CPU seconds used and the fraction of one core. */
  stop(): { cpuSeconds: number; coreShare: number } {
    const cpuSeconds = readCpuSeconds(this.#pid) - this.#cpu0;
    const wallSeconds = (performance.now() - this.#t0) / 1000;
    return { cpuSeconds, coreShare: wallSeconds > 0 ? cpuSeconds / wallSeconds : 0 };
  }
}

/** Busy jiffies (everything but idle and iowait) of CPU `core` from /proc/stat. */
export function readCoreBusySeconds(core: number): number {
  const text = Deno.readTextFileSync("/proc/stat");
  const m = new RegExp(`^cpu${core} (.*)$`, "m").exec(text);
  if (m === null) throw new Error(`no cpu${core} line in /proc/stat`);
  const f = m[1].trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  return busy / CLOCK_TICKS_PER_SECOND;
}

/** CPU figures of one measured phase. */
export interface PhaseCpu {
  /** Generator (this process) CPU as a share of one core. */
  readonly genCoreShare: number;
  /** Broker CPU as a share of one core. */
  readonly brokerCoreShare: number;
  /** Broker CPU seconds. */
  readonly brokerCpuSeconds: number;
  /** Share of the broker's core used by anything but the broker (other processes, irqs). */
  readonly brokerCoreOtherShare: number;
  /** Share of the generator's core used by anything but the generator. */
  readonly genCoreOtherShare: number;
}

/**
 * Measures one phase: generator and broker CPU, and how busy their cores were
 * with other work, so that interference from other processes is visible.
 */
export class PhaseMeter {
  readonly #gen = new CpuMeter(Deno.pid);
  readonly #broker: CpuMeter;
  readonly #brokerCore: number;
  readonly #genCore: number;
  #busy0 = [0, 0];
  #t0 = 0;

  /**
   * @param brokerPid broker process
   * @param brokerCore core the broker is pinned to
   * @param genCore core the generator is pinned to
   */
  constructor(brokerPid: number, brokerCore = 0, genCore = 1) {
    this.#broker = new CpuMeter(brokerPid);
    this.#brokerCore = brokerCore;
    this.#genCore = genCore;
  }

  /** Begin the phase. */
  start(): void {
    this.#gen.start();
    this.#broker.start();
    this.#busy0 = [readCoreBusySeconds(this.#brokerCore), readCoreBusySeconds(this.#genCore)];
    this.#t0 = performance.now();
  }

  /** End the phase. */
  stop(): PhaseCpu {
    const g = this.#gen.stop();
    const b = this.#broker.stop();
    const wall = (performance.now() - this.#t0) / 1000;
    const bc = readCoreBusySeconds(this.#brokerCore) - this.#busy0[0];
    const gc = readCoreBusySeconds(this.#genCore) - this.#busy0[1];
    const share = (x: number): number => (wall > 0 ? Math.max(0, x / wall) : 0);
    return {
      genCoreShare: g.coreShare,
      brokerCoreShare: b.coreShare,
      brokerCpuSeconds: b.cpuSeconds,
      brokerCoreOtherShare: share(bc - b.cpuSeconds),
      genCoreOtherShare: share(gc - g.cpuSeconds),
    };
  }
}

/**
 * Wait (bounded by `maxWaitMs`) until cores `cores` are quiet: over a 300 ms
 * sample each is busy less than `maxBusyShare`. On a shared machine this keeps
 * other processes' bursts out of the measurement when it can. Returns the time
 * waited and whether the cores were quiet in the end.
 */
export async function waitForQuietCores(
  cores: readonly number[],
  maxBusyShare: number,
  maxWaitMs: number,
): Promise<{ waitedMs: number; quiet: boolean }> {
  const t0 = performance.now();
  const sampleMs = 300;
  const maxSamples = Math.ceil(maxWaitMs / sampleMs) + 1;
  for (let i = 0; i < maxSamples; i++) {
    const before = cores.map(readCoreBusySeconds);
    const s0 = performance.now();
    await new Promise((r) => setTimeout(r, sampleMs));
    const wall = (performance.now() - s0) / 1000;
    const quiet = cores.every((c, j) => (readCoreBusySeconds(c) - before[j]) / wall < maxBusyShare);
    if (quiet) return { waitedMs: performance.now() - t0, quiet: true };
    if (performance.now() - t0 >= maxWaitMs) break;
  }
  return { waitedMs: performance.now() - t0, quiet: false };
}
