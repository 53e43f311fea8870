/**
 * Lines of a build report that the CLI and the Builds page both print: shared so both say the same thing.
 */
import { KEPT_FLOAT_KINDS, type KeptFloatKind } from './contract.js';

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

/** How the CLI and the Builds page name each reason a node stayed float. */
export const KEPT_FLOAT_LABELS: Record<KeptFloatKind, string> = {
  accuracy: 'accuracy budget',
  crushed: 'crushed activation',
  slower: 'measured slower in int8',
  'no-gain': 'no int8 gain here',
  excluded: 'excluded by you',
  unsupported: 'cannot be quantized',
  depthwise: 'depthwise',
  unfed: 'inputs from float',
};

/**
 * Counts of the nodes kept float by reason, in KEPT_FLOAT_KINDS order (the reasons a user acts on first);
 * nodes of older reports, which carry no kind, count as 'other'.
 */
export function keptFloatCounts(
  kept: readonly { kind?: KeptFloatKind | undefined }[],
): { kind: KeptFloatKind | 'other'; label: string; count: number }[] {
  const counts = new Map<KeptFloatKind | 'other', number>();
  for (const k of kept) counts.set(k.kind ?? 'other', (counts.get(k.kind ?? 'other') ?? 0) + 1);
  return [...KEPT_FLOAT_KINDS, 'other' as const]
    .filter((kind) => counts.has(kind))
    .map((kind) => ({
      kind,
      label: kind === 'other' ? 'other' : KEPT_FLOAT_LABELS[kind],
      count: counts.get(kind)!,
    }));
}

/** Nodes kept float, those a user acts on first (accuracy, measured speed, exclusions) before structural ones. */
export function actionableFirst<K extends { kind?: KeptFloatKind | undefined }>(kept: readonly K[]): K[] {
  const rank = (k: K): number => (k.kind ? KEPT_FLOAT_KINDS.indexOf(k.kind) : KEPT_FLOAT_KINDS.length);
  return [...kept].sort((a, b) => rank(a) - rank(b));
}
