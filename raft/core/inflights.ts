/**
 * Bounded window of append messages in flight to one follower (etcd-io/raft
 * `tracker/inflights.go`): bounded by message count and by bytes.
 *
 * @module
 */

/** In-flight appends to one follower, identified by their last entry index. */
export class Inflights {
  #indexes: number[] = [];
  #bytes: number[] = [];
  #head = 0;
  #totalBytes = 0;

  /**
   * @param maxCount maximum appends in flight (> 0)
   * @param maxBytes maximum entry bytes in flight (> 0)
   */
  constructor(readonly maxCount: number, readonly maxBytes: number) {}

  /** Number of appends in flight. */
  get count(): number {
    return this.#indexes.length - this.#head;
  }

  /** Entry bytes in flight. */
  get bytes(): number {
    return this.#totalBytes;
  }

  /** True when no more appends may be sent. */
  full(): boolean {
    return this.count >= this.maxCount || this.#totalBytes >= this.maxBytes;
  }

  /** Records an append whose last entry is `index` carrying `bytes` bytes. */
  add(index: number, bytes: number): void {
    if (this.full()) {
      throw new Error(`inflights: add(${index}) while full (count ${this.count})`);
    }
    const last = this.#indexes.length > this.#head ? this.#indexes[this.#indexes.length - 1] : -1;
    if (index <= last) {
      throw new Error(`inflights: add(${index}) not after last in-flight index ${last}`);
    }
    this.#indexes.push(index);
    this.#bytes.push(bytes);
    this.#totalBytes += bytes;
  }

  /** Frees every append whose index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.#head < this.#indexes.length && this.#indexes[this.#head] <= index) {
      this.#totalBytes -= this.#bytes[this.#head];
      this.#head++;
    }
    // Compact occasionally so memory stays bounded by maxCount.
    if (this.#head > 0 && this.#head * 2 >= this.#indexes.length) {
      this.#indexes = this.#indexes.slice(this.#head);
      this.#bytes = this.#bytes.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Frees everything. */
  reset(): void {
    this.#indexes = [];
    this.#bytes = [];
    this.#head = 0;
    this.#totalBytes = 0;
  }
}
