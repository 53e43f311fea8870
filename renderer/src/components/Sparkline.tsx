import { useCallback, useSyncExternalStore } from 'react';
import type { Metric } from '../../../shared/telemetry.js';
import { extent, lastValue, sparkPath, type SparklineStore } from '../lib/sparklines.js';
import { levelAgainst } from '../lib/format.js';

const W = 120;
const H = 22;

/**
 * One row's sparkline from the shared store; re-renders only when its own line arrives. A dashed
 * line marks the limit when the limit is within reach of the data.
 */
export function Sparkline({
  store,
  deviceId,
  metric,
  limit,
}: {
  store: SparklineStore;
  deviceId: string;
  metric: Metric;
  limit: number | null;
}) {
  const subscribe = useCallback(
    (fn: () => void) => store.subscribe(deviceId, metric, fn),
    [store, deviceId, metric],
  );
  const data = useSyncExternalStore(subscribe, () => store.get(deviceId, metric));
  if (data === undefined) return <span className="spark spark-loading" aria-label="loading" />;
  if (data === 'error')
    return (
      <span className="spark spark-empty" title="Could not load the trend; retrying shortly.">
        unavailable
      </span>
    );
  if (data === null || extent(data.values) === null)
    return <span className="spark spark-empty">no data</span>;
  const ext = extent(data.values) ?? { min: 0, max: 1 };
  const showLimit = limit !== null && limit <= ext.max * 1.25 && limit >= ext.min;
  const range = showLimit ? { min: ext.min, max: Math.max(ext.max, limit) } : ext;
  const last = lastValue(data.values);
  const level = last ? levelAgainst(last.value, limit) : 'none';
  const span = range.max - range.min || 1;
  const y = (v: number) => H - 1.5 - ((v - range.min) / span) * (H - 3);
  const n = data.values.length;
  return (
    <svg className={`spark spark-${level}`} width={W} height={H} viewBox={`0 0 ${W} ${H}`} aria-hidden="true">
      {showLimit && <line className="spark-limit" x1={0} x2={W} y1={y(limit)} y2={y(limit)} />}
      <path className="spark-line" d={sparkPath(data.values, W, H, range)} />
      {last && (
        <circle
          className="spark-dot"
          cx={n > 1 ? 1.5 + (last.index * (W - 3)) / (n - 1) : 1.5}
          cy={y(last.value)}
          r={1.8}
        />
      )}
    </svg>
  );
}
