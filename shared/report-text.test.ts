import { describe, expect, it } from 'vitest';
import { actionableFirst, keptFloatCounts, speedPassText } from './report-text.js';

describe('speed pass line', () => {
  const base = { islands: 20, droppedIslands: 0, droppedNodes: 0, beforeMs: 78.29, afterMs: 78.29, ms: 2590 };
  it('says how many groups were profiled and timed, and what was kept float', () => {
    expect(
      speedPassText({ ...base, screened: 20, tested: 2, droppedIslands: 2, droppedNodes: 7, afterMs: 75.91 }),
    ).toBe('20 int8 groups profiled, 2 timed, in 2.6 s: 7 nodes kept float, 78.3 → 75.9 ms at 1 thread');
    expect(speedPassText({ ...base, screened: 20, tested: 0 })).toBe(
      '20 int8 groups profiled in 2.6 s: none estimated slower than float (78.3 ms) at 1 thread',
    );
  });
  it('says when the profiler failed and the groups were timed one by one', () => {
    expect(speedPassText({ ...base, screened: 0, tested: 20, profileError: 'disk full' })).toBe(
      "20 of 20 int8 groups timed in 2.6 s: none measured slower than float (78.3 ms) at 1 thread (onnxruntime's profiler failed: disk full; the groups were timed one by one)",
    );
  });
  it('reads reports of builds that timed every group, or some within a budget', () => {
    expect(speedPassText({ ...base, tested: 6, droppedIslands: 1, droppedNodes: 1, afterMs: 77 })).toBe(
      '6 of 20 int8 groups timed in 2.6 s: 1 node kept float, 78.3 → 77.0 ms at 1 thread',
    );
    expect(speedPassText(base)).toBe(
      '20 of 20 int8 groups timed in 2.6 s: none measured slower than float (78.3 ms) at 1 thread',
    );
  });
});

describe('kept-float summary', () => {
  it('counts the nodes by reason, the reasons a user acts on first; older reports count as other', () => {
    const kept = [
      { kind: 'depthwise' as const },
      { kind: 'unfed' as const },
      { kind: 'depthwise' as const },
      { kind: 'accuracy' as const },
      {},
    ];
    expect(keptFloatCounts(kept)).toEqual([
      { kind: 'accuracy', label: 'accuracy budget', count: 1 },
      { kind: 'depthwise', label: 'depthwise', count: 2 },
      { kind: 'unfed', label: 'inputs from float', count: 1 },
      { kind: 'other', label: 'other', count: 1 },
    ]);
    expect(keptFloatCounts([])).toEqual([]);
    expect(actionableFirst(kept).map((k) => k.kind)).toEqual([
      'accuracy',
      'depthwise',
      'depthwise',
      'unfed',
      undefined,
    ]);
  });
});
