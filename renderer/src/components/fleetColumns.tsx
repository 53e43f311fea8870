import { createColumnHelper, type ColumnDef, type RowData } from '@tanstack/react-table';
import type { DeviceRow } from '../../../shared/fleet.js';
import type { Metric } from '../../../shared/telemetry.js';
import { DASH, formatFraction, formatMs, formatRate, formatTemp, levelAgainst } from '../lib/format.js';
import type { SparklineStore } from '../lib/sparklines.js';
import { Ago } from './Ago.js';
import { Sparkline } from './Sparkline.js';
import { StatusBadge } from './StatusBadge.js';

export type SparkMetric = Extract<Metric, 'latencyP95Ms' | 'tempC'>;

export interface ColumnContext {
  sparklines: SparklineStore;
  sparkMetric: SparkMetric;
  onStatusHover: (row: DeviceRow | null, el: HTMLElement | null) => void;
}

const col = createColumnHelper<DeviceRow>();

/** Sorting itself is lib/sortRows.ts (the table runs with manualSorting); ids here must match its keys. */
function num(get: (d: DeviceRow) => number | null) {
  return (d: DeviceRow) => get(d) ?? undefined;
}

const ACCEL_LABEL: Record<DeviceRow['accelerator'], string> = {
  cpu: 'CPU',
  jetson: 'Jetson',
  coral: 'Coral',
  gpu: 'GPU',
  npu: 'NPU',
  unknown: DASH,
};

/** Column definitions; the grid widths live in styles.css (.fleet-grid) in the same order. */
export function fleetColumns(ctx: ColumnContext): ColumnDef<DeviceRow, unknown>[] {
  const defs = [
    col.accessor('status', {
      header: 'Status',
      sortDescFirst: true,
      cell: (c) => {
        const d = c.row.original;
        return (
          <span
            className="status-hover"
            onMouseEnter={(e) => ctx.onStatusHover(d, e.currentTarget)}
            onMouseLeave={() => ctx.onStatusHover(null, null)}
          >
            <StatusBadge status={d.status} reasons={d.statusReasons} withTitle={false} />
          </span>
        );
      },
    }),
    col.accessor((d) => d.name.toLowerCase(), {
      id: 'name',
      header: 'Device',
      sortDescFirst: false,
      cell: (c) => {
        const d = c.row.original;
        return (
          <span className="cell-device">
            <a
              className="device-name"
              href={`#/devices/${encodeURIComponent(d.id)}`}
              tabIndex={-1}
              title={d.name}
            >
              {d.name}
            </a>
            {d.name !== d.id && <span className="device-id mono">{d.id}</span>}
          </span>
        );
      },
    }),
    col.accessor('hardwareModel', {
      header: 'Hardware',
      cell: (c) => (
        <span
          className="truncate"
          title={`${c.row.original.hardwareModel} · ${c.row.original.arch} · ${c.row.original.os}`}
        >
          {c.row.original.hardwareModel || DASH}
        </span>
      ),
    }),
    col.accessor('accelerator', {
      header: 'Accel',
      cell: (c) => (
        <span className={`accel accel-${c.row.original.accelerator}`}>
          {ACCEL_LABEL[c.row.original.accelerator]}
        </span>
      ),
    }),
    col.accessor(
      num((d) => d.tempC),
      {
        id: 'tempC',
        header: 'Temp',
        sortDescFirst: true,
        meta: { numeric: true },
        cell: (c) => {
          const d = c.row.original;
          return (
            <span
              className={`num level-${levelAgainst(d.tempC, d.limits.tempLimitC)}`}
              title={`limit ${d.limits.tempLimitC} °C${d.throttled ? ' · throttling' : ''}`}
            >
              {d.throttled && (
                <span className="throttle-mark" aria-label="throttling">
                  ▼
                </span>
              )}
              {formatTemp(d.tempC)}
            </span>
          );
        },
      },
    ),
    col.accessor(
      num((d) => d.latencyP95Ms),
      {
        id: 'latencyP95Ms',
        header: 'P95 latency',
        sortDescFirst: true,
        meta: { numeric: true },
        cell: (c) => {
          const d = c.row.original;
          return (
            <span
              className={`num level-${levelAgainst(d.latencyP95Ms, d.limits.latencyBudgetMs)}`}
              title={`P50 ${formatMs(d.latencyP50Ms)} · P95 ${formatMs(d.latencyP95Ms)} · P99 ${formatMs(d.latencyP99Ms)}\nbudget ${formatMs(d.limits.latencyBudgetMs)}`}
            >
              {formatMs(d.latencyP95Ms)}
            </span>
          );
        },
      },
    ),
    col.accessor(
      num((d) => d.throughputIps),
      {
        id: 'throughputIps',
        header: 'Throughput',
        sortDescFirst: true,
        meta: { numeric: true },
        cell: (c) => <span className="num">{formatRate(c.row.original.throughputIps)}</span>,
      },
    ),
    col.accessor(
      num((d) => d.errorRate),
      {
        id: 'errorRate',
        header: 'Errors',
        sortDescFirst: true,
        meta: { numeric: true },
        cell: (c) => {
          const d = c.row.original;
          return (
            <span
              className={`num level-${d.errorRate === 0 ? 'ok' : levelAgainst(d.errorRate, d.limits.errorRateLimit, 0.5)}`}
              title={`limit ${formatFraction(d.limits.errorRateLimit)}`}
            >
              {formatFraction(d.errorRate)}
            </span>
          );
        },
      },
    ),
    col.accessor((d) => d.modelVersion ?? undefined, {
      id: 'modelVersion',
      header: 'Model',
      cell: (c) => (
        <span
          className="truncate mono model-version"
          title={c.row.original.modelVersion ?? 'no model loaded'}
        >
          {c.row.original.modelVersion ?? DASH}
        </span>
      ),
    }),
    col.accessor(
      num((d) => d.lastContactTs),
      {
        id: 'lastContactTs',
        header: 'Last contact',
        sortDescFirst: true,
        meta: { numeric: true },
        cell: (c) => <Ago ts={c.row.original.lastContactTs} staleAfterMs={60_000} />,
      },
    ),
    col.display({
      id: 'trend',
      header: ctx.sparkMetric === 'tempC' ? 'Temp · 1h' : 'P95 · 1h',
      enableSorting: false,
      cell: (c) => {
        const d = c.row.original;
        return (
          <Sparkline
            store={ctx.sparklines}
            deviceId={d.id}
            metric={ctx.sparkMetric}
            limit={ctx.sparkMetric === 'tempC' ? d.limits.tempLimitC : d.limits.latencyBudgetMs}
          />
        );
      },
    }),
  ];
  return defs as ColumnDef<DeviceRow, unknown>[];
}

declare module '@tanstack/react-table' {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ColumnMeta<TData extends RowData, TValue> {
    numeric?: boolean;
  }
}
