/**
 * Bounded waits on a condition that becomes true as events arrive: the one
 * wait/collect helper the harness clients share.
 *
 * @module
 */

/** Options for {@link Waiters.waitFor}. */
export interface WaitOptions {
  /** Appended to the timeout message, e.g. how much was collected so far. */
  detail?: () => string;
  /** Checked on every wake; a string ends the wait early with that error. */
  abort?: () => string | undefined;
}

/** A set of pending waits, re-checked whenever {@link Waiters.wake} is called. */
export class Waiters {
  #waiters = new Set<() => void>();

  /** Re-check every pending wait (call after each new event). */
  wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolve once cond() holds; reject after timeoutMs, naming what was awaited. */
  waitFor(
    cond: () => boolean,
    timeoutMs: number,
    what: string,
    opts: WaitOptions = {},
  ): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (cond()) {
          clearTimeout(t);
          this.#waiters.delete(check);
          resolve();
          return;
        }
        const aborted = opts.abort?.();
        if (aborted !== undefined) {
          clearTimeout(t);
          this.#waiters.delete(check);
          reject(new Error(aborted));
        }
      };
      const t = setTimeout(() => {
        this.#waiters.delete(check);
        const detail = opts.detail ? ` ${opts.detail()}` : "";
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }
}
