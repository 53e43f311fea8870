/**
 * Lines of a build report that the CLI and the Builds page both print: shared so both say the same thing.
 */

/** The speed pass as build-report.json records it (older reports lack `screened` and `tested`). */
export interface SpeedPassText {
  islands: number;
  screened?: number | undefined;
  profileError?: string | undefined;
  tested?: number | undefined;
  droppedIslands: number;
  droppedNodes: number;
  beforeMs: number;
  afterMs: number;
  ms: number;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** e.g. "20 int8 groups profiled, 2 timed, in 2.6 s: 7 nodes kept float, 78.3 → 75.9 ms at 1 thread". */
export function speedPassText(s: SpeedPassText): string {
  const tested = s.tested ?? s.islands;
  const how = s.screened
    ? `${plural(s.islands, 'int8 group')} profiled${tested > 0 ? `, ${tested} timed,` : ''}`
    : `${tested} of ${plural(s.islands, 'int8 group')} timed`;
  const outcome =
    s.droppedIslands > 0
      ? `${plural(s.droppedNodes, 'node')} kept float, ${s.beforeMs.toFixed(1)} → ${s.afterMs.toFixed(1)} ms`
      : `none ${s.screened && tested === 0 ? 'estimated' : 'measured'} slower than float (${s.beforeMs.toFixed(1)} ms)`;
  const failed = s.profileError
    ? ` (onnxruntime's profiler failed: ${s.profileError}; the groups were timed one by one)`
    : '';
  return `${how} in ${(s.ms / 1000).toFixed(1)} s: ${outcome} at 1 thread${failed}`;
}
