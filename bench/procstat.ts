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
