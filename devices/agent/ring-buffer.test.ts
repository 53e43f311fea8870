import { describe, expect, it } from 'vitest';
import { SeqRingBuffer } from './ring-buffer.js';

describe('SeqRingBuffer', () => {
  it('keeps the newest items and reads after a cursor', () => {
    const b = new SeqRingBuffer<{ seq: number }>(3);
    expect(b.after(0, 10)).toEqual([]);
    for (let seq = 1; seq <= 5; seq++) b.push({ seq });
    expect(b.size).toBe(3);
    expect(b.oldest()?.seq).toBe(3);
    expect(b.newest()?.seq).toBe(5);
    expect(b.after(0, 10).map((x) => x.seq)).toEqual([3, 4, 5]);
    expect(b.after(3, 10).map((x) => x.seq)).toEqual([4, 5]);
    expect(b.after(3, 1).map((x) => x.seq)).toEqual([4]);
    expect(b.after(5, 10)).toEqual([]);
    expect(b.after(99, 10)).toEqual([]);
  });

  it('refuses gaps and silly capacities', () => {
    const b = new SeqRingBuffer<{ seq: number }>(2);
    b.push({ seq: 1 });
    expect(() => b.push({ seq: 3 })).toThrow(/contiguous/);
    expect(() => new SeqRingBuffer(0)).toThrow(RangeError);
  });
});
