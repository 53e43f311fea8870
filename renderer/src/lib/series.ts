import type { Series } from '../../../shared/fleet.js';
import type { Metric } from '../../../shared/telemetry.js';

export const RANGES = [
  { id: '1h', label: '1h', ms: 3_600_000 },
  { id: '6h', label: '6h', ms: 6 * 3_600_000 },
  { id: '24h', label: '24h', ms: 24 * 3_600_000 },
  { id: '7d', label: '7d', ms: 7 * 86_400_000 },
  { id: '30d', label: '30d', ms: 30 * 86_400_000 },
] as const;
export type RangeId = (typeof RANGES)[number]['id'];

export function isRangeId(v: unknown): v is RangeId {
  return RANGES.some((r) => r.id === v);
}

export function rangeMs(id: RangeId): number {
  return RANGES.find((r) => r.id === id)?.ms ?? 3_600_000;
}

export type Column = (number | null)[];
export type Aggregate = 'avg' | 'min' | 'max' | 'p95';

/**
 * One metric's column. Raw series name columns `<metric>`; rollups `<metric>_<agg>`. A missing
 * column comes back as all-null of the right length, so charts always get aligned arrays.
 */
export function metricColumn(series: Series, metric: string, agg: Aggregate = 'avg'): Column {
  const cols = series.columns;
  const found =
    series.resolution === 'raw'
      ? (cols[metric] ?? cols[`${metric}_${agg}`])
      : (cols[`${metric}_${agg}`] ?? (agg === 'avg' ? cols[metric] : undefined));
  return found ?? new Array<number | null>(series.ts.length).fill(null);
}

/** Whether the series carries a separate min/max for the metric (rollups do; raw does not). */
export function hasBand(series: Series, metric: Metric): boolean {
  return (
    series.resolution !== 'raw' && `${metric}_min` in series.columns && `${metric}_max` in series.columns
  );
}

export function countPoints(col: readonly (number | null)[]): number {
  let n = 0;
  for (const v of col) if (v !== null && Number.isFinite(v)) n++;
  return n;
}

export function allNull(...cols: (readonly (number | null)[])[]): boolean {
  return cols.every((c) => countPoints(c) === 0);
}

/** Columns that are not the chart's main metrics but may ride along (error counts): first match wins. */
export function findColumn(series: Series, names: readonly string[]): Column | null {
  for (const n of names) {
    const c = series.columns[n];
    if (c) return c;
  }
  return null;
}

/** A constant line (limit, budget) as a column, so uPlot draws it with the data. */
export function constantColumn(length: number, value: number | null): Column {
  return new Array<number | null>(length).fill(value);
}

export const RESOLUTION_LABEL: Record<Series['resolution'], string> = {
  raw: 'raw samples',
  '1m': '1-minute rollups',
  '1h': 'hourly rollups',
};
