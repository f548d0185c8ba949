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

/** Memory log store with an explicit durability point. */
export class SimDisk implements LogStore {
  #durable = new MemoryLogStore();
  #visible = new MemoryLogStore();
  #pending: LogWriteBatch[] = [];
  /** Batches made durable so far ("fsyncs"). */
  syncs = 0;

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
  }

  /** Applies the batch to the visible state; durable only after {@link sync}. */
  write(batch: LogWriteBatch): void {
    this.#visible.write(batch);
    this.#pending.push(batch);
  }

  /** Makes every written batch durable. */
  sync(): void {
    if (this.#pending.length === 0) return;
    for (const b of this.#pending) this.#durable.write(b);
    this.#pending = [];
    this.syncs++;
  }

  /** Loses every unsynced write; the visible state becomes the durable one. */
  crash(): void {
    this.#pending = [];
    this.#visible = this.#durable.clone();
  }

  close(): void {}
}
