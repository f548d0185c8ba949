/**
 * A fake disk for the simulator: a {@link LogStore} whose writes are visible
 * at once but durable only after `sync()`; `crash()` throws away everything
 * not synced. The simulated node loop writes, syncs, and only then sends, as
 * the real driver does; a crash injected between write and sync loses that
 * batch (and the messages that depended on it are never sent).
 *
 * @module
 */

import type {
  ConfState,
  Entry,
  GroupId,
  GroupLogStorage,
  HardState,
  LogStore,
  LogWriteBatch,
  Snapshot,
} from "../storage/logStorage.ts";
import { MemoryLogStore } from "../storage/memoryLogStore.ts";

/** A view of one group that always reads the disk's current contents. */
class SimGroupView implements GroupLogStorage {
  constructor(readonly groupId: GroupId, private readonly disk: SimDisk) {}
  #g(): GroupLogStorage {
    return this.disk.visible.group(this.groupId);
  }
  initialState(): { hardState: HardState; confState: ConfState } {
    return this.#g().initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.#g().entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.#g().term(index);
  }
  firstIndex(): number {
    return this.#g().firstIndex();
  }
  lastIndex(): number {
    return this.#g().lastIndex();
  }
  snapshot(): Snapshot {
    return this.#g().snapshot();
  }
}

/**
 * Opens a real {@link LogStore} that shadows a {@link SimDisk}: it receives
 * every synced batch, is closed and reopened on each crash, and must then
 * hold exactly the durable contents (a differential test of the real store
 * under Raft's write patterns).
 */
export type MirrorOpener = () => LogStore;

/** The mirror's contents differ from the simulated durable state. */
export class MirrorMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MirrorMismatchError";
  }
}

/** JSON with sorted object keys, so that field order does not matter. */
function canonical(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) =>
      x !== null && typeof x === "object" && !Array.isArray(x) && !(x instanceof Uint8Array)
        ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
        : x,
  );
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws MirrorMismatchError naming the first difference between two stores. */
export function compareStores(expected: LogStore, actual: LogStore, where: string): void {
  const fail = (what: string): never => {
    throw new MirrorMismatchError(`${where}: ${what}`);
  };
  const groups = expected.groups();
  if (JSON.stringify(groups) !== JSON.stringify(actual.groups())) {
    fail(`groups ${JSON.stringify(actual.groups())}, expected ${JSON.stringify(groups)}`);
  }
  for (const id of groups) {
    const e = expected.group(id);
    const a = actual.group(id);
    if (a.firstIndex() !== e.firstIndex() || a.lastIndex() !== e.lastIndex()) {
      fail(
        `group ${id}: log [${a.firstIndex()}, ${a.lastIndex()}], expected [${e.firstIndex()}, ${e.lastIndex()}]`,
      );
    }
    if (a.term(e.firstIndex() - 1) !== e.term(e.firstIndex() - 1)) {
      fail(`group ${id}: term of the first index − 1`);
    }
    if (canonical(a.initialState()) !== canonical(e.initialState())) {
      fail(
        `group ${id}: initial state ${canonical(a.initialState())}, expected ${
          canonical(e.initialState())
        }`,
      );
    }
    const es = e.entries(e.firstIndex(), e.lastIndex() + 1, Infinity);
    const as = a.entries(e.firstIndex(), e.lastIndex() + 1, Infinity);
    for (let i = 0; i < es.length; i++) {
      const x = es[i];
      const y = as[i];
      if (
        y === undefined || x.index !== y.index || x.term !== y.term || x.type !== y.type ||
        !bytesEqual(x.data, y.data)
      ) {
        fail(`group ${id}: entry ${x.index} differs`);
      }
    }
    const xs = e.snapshot();
    const ys = a.snapshot();
    if (
      canonical(xs.metadata) !== canonical(ys.metadata) || !bytesEqual(xs.data, ys.data)
    ) {
      fail(`group ${id}: snapshot differs`);
    }
  }
}

/** Memory log store with an explicit durability point. */
export class SimDisk implements LogStore {
  #durable = new MemoryLogStore();
  #mirror: LogStore | null;
  #visible = new MemoryLogStore();
  #pending: LogWriteBatch[] = [];
  /** Batches made durable so far ("fsyncs"). */
  syncs = 0;

  /** @param openMirror optional real store shadowing the durable state (see {@link MirrorOpener}). */
  constructor(private readonly openMirror?: MirrorOpener) {
    this.#mirror = openMirror?.() ?? null;
  }

  /** What a reader sees now (durable + not yet synced writes). */
  get visible(): MemoryLogStore {
    return this.#visible;
  }

  /** What survives a crash. */
  get durable(): MemoryLogStore {
    return this.#durable;
  }

  /** Number of batches written but not synced. */
  get unsyncedBatches(): number {
    return this.#pending.length;
  }

  group(groupId: GroupId): GroupLogStorage {
    return new SimGroupView(groupId, this);
  }

  groups(): GroupId[] {
    return this.#visible.groups();
  }

  /** Dropping a group is immediately durable (the replica is gone). */
  dropGroup(groupId: GroupId): void {
    this.sync();
    this.#visible.dropGroup(groupId);
    this.#durable.dropGroup(groupId);
    this.#mirror?.dropGroup(groupId);
  }

  /** Applies the batch to the visible state; durable only after {@link sync}. */
  write(batch: LogWriteBatch): void {
    this.#visible.write(batch);
    this.#pending.push(batch);
  }

  /** Makes every written batch durable. */
  sync(): void {
    if (this.#pending.length === 0) return;
    for (const b of this.#pending) {
      this.#durable.write(b);
      this.#mirror?.write(b);
    }
    this.#pending = [];
    this.syncs++;
  }

  /** Loses every unsynced write; the visible state becomes the durable one. */
  crash(): void {
    this.#pending = [];
    this.#visible = this.#durable.clone();
    this.verifyMirror();
  }

  /** Reopens the mirror store (if any) and compares it with the durable state. */
  verifyMirror(): void {
    if (this.#mirror === null || this.openMirror === undefined) return;
    this.#mirror.close();
    this.#mirror = this.openMirror();
    compareStores(this.#durable, this.#mirror, "mirror store after reopening");
  }

  /** Closes the mirror, if any. */
  close(): void {
    this.#mirror?.close();
    this.#mirror = null;
  }
}
