/**
 * Fixed-capacity buffer of samples with contiguous, increasing seq numbers: the pull cursor
 * (`after`) maps straight to an index, so reads are O(limit) however full the buffer is.
 */
export class SeqRingBuffer<T extends { seq: number }> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`ring buffer capacity must be >= 1, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    const newest = this.newest();
    if (newest && item.seq !== newest.seq + 1) {
      throw new RangeError(`seq must be contiguous: got ${item.seq} after ${newest.seq}`);
    }
    const idx = (this.head + this.count) % this.capacity;
    this.items[idx] = item;
    if (this.count < this.capacity) this.count++;
    else this.head = (this.head + 1) % this.capacity;
  }

  oldest(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  newest(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.head + this.count - 1) % this.capacity];
  }

  /** Items with seq > after, oldest first, at most limit. */
  after(after: number, limit: number): T[] {
    const oldest = this.oldest();
    if (!oldest) return [];
    const start = Math.max(0, after + 1 - oldest.seq);
    const out: T[] = [];
    for (let i = start; i < this.count && out.length < limit; i++) {
      const item = this.items[(this.head + i) % this.capacity];
      if (item) out.push(item);
    }
    return out;
  }
}
