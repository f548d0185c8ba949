/**
 * Test helpers shared by the SQLite store tests: the harness for running a
 * store's case suite over a store on a database file.
 *
 * @module
 */
import { join } from "node:path";

/** A harness for a store kept in a database file in a fresh temporary directory. */
export interface FileStoreHarness<S, A extends unknown[]> {
  readonly durable: true;
  /** Opens the store on the file (again, after a close), the directory made on first use. */
  open(...args: A): Promise<S>;
  /** Closes every store opened and removes the directory. */
  cleanup(): Promise<void>;
  /** The database file's path (throws before the first `open`). */
  path(): string;
}

/**
 * A durable case-suite harness: `open` opens the store on `fileName` in a
 * temporary directory (made on first use) with `openStore`; `cleanup` closes
 * every store opened and removes the directory.
 */
export function fileStoreHarness<S extends { close(): Promise<void> }, A extends unknown[]>(
  fileName: string,
  openStore: (path: string, ...args: A) => S,
): FileStoreHarness<S, A> {
  let dir: string | null = null;
  const opened: S[] = [];
  return {
    durable: true,
    open: async (...args) => {
      dir ??= await Deno.makeTempDir();
      const s = openStore(join(dir, fileName), ...args);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      if (dir !== null) await Deno.remove(dir, { recursive: true });
    },
    path: () => join(dir!, fileName),
  };
}
