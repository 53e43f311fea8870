import {
  flexRender,
  getCoreRowModel,
  useReactTable,
  type Row,
  type SortingState,
} from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { DeviceRow } from '../../../shared/fleet.js';
import type { SparklineStore } from '../lib/sparklines.js';
import { sortDevices } from '../lib/sortRows.js';
import { navigate } from '../lib/router.js';
import { fleetColumns, type SparkMetric } from './fleetColumns.js';
import { SortIcon } from './Icons.js';
import { StatusBadge } from './StatusBadge.js';

export const ROW_HEIGHT = 40;

interface Props {
  rows: readonly DeviceRow[];
  sorting: SortingState;
  onSortingChange: (s: SortingState) => void;
  sparklines: SparklineStore;
  sparkMetric: SparkMetric;
  onSparkMetricChange: (m: SparkMetric) => void;
  initialScrollTop: number;
  onScrollTopChange: (top: number) => void;
  empty: React.ReactNode;
}

let firstRowsMarked = false;

/**
 * The virtualized device grid. Only the rows in view (plus overscan) are in the DOM; each row is
 * memoised on its DeviceRow, so a live update re-renders only the rows whose device changed.
 */
export function FleetTable(props: Props) {
  const { rows, sorting, onSortingChange, sparklines, sparkMetric } = props;
  const scrollRef = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<{ row: DeviceRow; rect: DOMRect } | null>(null);

  const onStatusHover = useCallback((row: DeviceRow | null, el: HTMLElement | null) => {
    setHover(row && el ? { row, rect: el.getBoundingClientRect() } : null);
  }, []);
  const columns = useMemo(
    () => fleetColumns({ sparklines, sparkMetric, onStatusHover }),
    [sparklines, sparkMetric, onStatusHover],
  );
  // Sorting is ours (sortDevices computes keys once per row) and the table model is built for the
  // rows in view only: the virtualizer owns the full list, react-table owns columns, headers, sort
  // state and cells. At 10,000 devices this keeps both the first render and each scroll frame small.
  const sorted = useMemo(() => sortDevices(rows, sorting), [rows, sorting]);
  // Stable callbacks: a new getItemKey makes the virtualizer re-measure every row on every frame.
  const getItemKey = useCallback((i: number) => sorted[i]?.id ?? i, [sorted]);
  // The virtualizer and react-table hand out fresh functions by design; this component is not
  // auto-memoised by the React Compiler, and its rows are memoised by hand (FleetRowView).
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: sorted.length,
    getScrollElement: useCallback(() => scrollRef.current, []),
    estimateSize: useCallback(() => ROW_HEIGHT, []),
    overscan: 10,
    initialOffset: props.initialScrollTop,
    getItemKey,
  });
  const items = virtualizer.getVirtualItems();
  const firstIndex = items[0]?.index ?? 0;
  const lastIndex = items[items.length - 1]?.index ?? -1;
  const windowData = useMemo(() => sorted.slice(firstIndex, lastIndex + 1), [sorted, firstIndex, lastIndex]);

  const table = useReactTable({
    data: windowData,
    columns,
    state: { sorting },
    onSortingChange: (updater) => onSortingChange(typeof updater === 'function' ? updater(sorting) : updater),
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    getRowId: (d) => d.id,
    enableSortingRemoval: false,
    enableMultiSort: true,
  });
  const windowRows = table.getRowModel().rows;

  // Sparklines for what is on screen, once scrolling pauses, then every 30 s for freshness.
  const visibleIds = useRef<string[]>([]);
  useEffect(() => {
    const ids = windowData.map((d) => d.id);
    visibleIds.current = ids;
    const t = setTimeout(() => sparklines.request(ids, sparkMetric), 90);
    return () => clearTimeout(t);
  }, [windowData, sparklines, sparkMetric]);
  useEffect(() => {
    const t = setInterval(() => sparklines.request(visibleIds.current, sparkMetric), 30_000);
    return () => clearInterval(t);
  }, [sparklines, sparkMetric]);

  // Remember the scroll position for when the operator comes back from a device.
  const { onScrollTopChange } = props;
  useLayoutEffect(() => {
    const el = scrollRef.current;
    return () => {
      if (el) onScrollTopChange(el.scrollTop);
    };
  }, [onScrollTopChange]);

  // Performance marks for the UI benchmark: rows with data committed, then painted.
  useLayoutEffect(() => {
    if (firstRowsMarked || items.length === 0) return;
    firstRowsMarked = true;
    performance.mark('fleet-table-rows-committed');
    requestAnimationFrame(() => setTimeout(() => performance.mark('fleet-table-first-rows'), 0));
  }, [items.length]);

  const open = useCallback((id: string) => navigate({ page: 'device', deviceId: id }), []);
  const headers = table.getHeaderGroups()[0]?.headers ?? [];

  return (
    <div className="fleet-table" role="table" aria-rowcount={sorted.length} data-row-count={sorted.length}>
      <div className="fleet-scroll" ref={scrollRef}>
        <div className="fleet-grid fleet-head" role="row">
          {headers.map((h) => {
            const sortable = h.column.getCanSort();
            const dir = h.column.getIsSorted();
            const numeric = h.column.columnDef.meta?.numeric === true;
            return (
              <div
                key={h.id}
                role="columnheader"
                aria-sort={dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : 'none'}
                className={`th${numeric ? ' right' : ''}${sortable ? ' sortable' : ''}${dir ? ' sorted' : ''}`}
              >
                {sortable ? (
                  <button
                    type="button"
                    className="th-button"
                    onClick={h.column.getToggleSortingHandler()}
                    title="Sort (shift-click to add a secondary sort)"
                  >
                    {flexRender(h.column.columnDef.header, h.getContext())}
                    <SortIcon dir={dir} />
                  </button>
                ) : h.column.id === 'trend' ? (
                  <SparkMetricToggle value={sparkMetric} onChange={props.onSparkMetricChange} />
                ) : (
                  flexRender(h.column.columnDef.header, h.getContext())
                )}
              </div>
            );
          })}
        </div>
        {sorted.length === 0 ? (
          <div className="fleet-empty">{props.empty}</div>
        ) : (
          <div className="fleet-body" style={{ height: virtualizer.getTotalSize() }}>
            {items.map((vi) => {
              const r = windowRows[vi.index - firstIndex];
              return r ? (
                <FleetRowView
                  key={vi.key}
                  row={r}
                  device={r.original}
                  start={vi.start}
                  odd={vi.index % 2 === 1}
                  columns={columns}
                  onOpen={open}
                />
              ) : null;
            })}
          </div>
        )}
      </div>
      {hover && <ReasonsPopover row={hover.row} rect={hover.rect} />}
    </div>
  );
}

const FleetRowView = memo(
  function FleetRowView({
    row,
    device,
    start,
    odd,
    onOpen,
  }: {
    row: Row<DeviceRow>;
    device: DeviceRow;
    start: number;
    odd: boolean;
    columns: unknown;
    onOpen: (id: string) => void;
  }) {
    return (
      <div
        role="row"
        tabIndex={0}
        className={`fleet-grid fleet-row${odd ? ' odd' : ''} row-${device.status}`}
        style={{ transform: `translateY(${start}px)` }}
        data-device-id={device.id}
        data-status={device.status}
        onClick={(e) => {
          if (e.button === 0 && !e.metaKey && !e.ctrlKey) {
            e.preventDefault();
            onOpen(device.id);
          }
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter') onOpen(device.id);
        }}
      >
        {row.getVisibleCells().map((cell) => (
          <div
            key={cell.id}
            role="cell"
            className={`td${cell.column.columnDef.meta?.numeric ? ' right' : ''}`}
          >
            {flexRender(cell.column.columnDef.cell, cell.getContext())}
          </div>
        ))}
      </div>
    );
  },
  (a, b) =>
    a.device === b.device &&
    a.start === b.start &&
    a.odd === b.odd &&
    a.columns === b.columns &&
    a.onOpen === b.onOpen,
);

function SparkMetricToggle({ value, onChange }: { value: SparkMetric; onChange: (m: SparkMetric) => void }) {
  return (
    <span className="seg seg-mini" role="group" aria-label="Trend metric">
      <span className="seg-label">1h</span>
      {(
        [
          ['latencyP95Ms', 'P95'],
          ['tempC', 'Temp'],
        ] as const
      ).map(([m, label]) => (
        <button
          key={m}
          type="button"
          className={`seg-btn${value === m ? ' on' : ''}`}
          aria-pressed={value === m}
          onClick={() => onChange(m)}
        >
          {label}
        </button>
      ))}
    </span>
  );
}

function ReasonsPopover({ row, rect }: { row: DeviceRow; rect: DOMRect }) {
  const top = Math.min(rect.bottom + 6, window.innerHeight - 120);
  return (
    <div className="popover" role="tooltip" style={{ top, left: rect.left }}>
      <div className="popover-title">
        <StatusBadge status={row.status} /> <span className="muted">{row.name}</span>
      </div>
      {row.statusReasons.length > 0 ? (
        <ul className="popover-list">
          {row.statusReasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      ) : (
        <div className="muted">All checks pass.</div>
      )}
    </div>
  );
}

/** Placeholder rows while the first snapshot loads, so the layout does not jump when it lands. */
export function FleetTableSkeleton() {
  return (
    <div className="fleet-table" aria-busy="true">
      <div className="fleet-scroll">
        <div className="fleet-grid fleet-head">
          {[
            'Status',
            'Device',
            'Hardware',
            'Accel',
            'Temp',
            'P95 latency',
            'Throughput',
            'Errors',
            'Model',
            'Last contact',
            'Trend',
          ].map((h) => (
            <div key={h} className="th">
              {h}
            </div>
          ))}
        </div>
        {Array.from({ length: 14 }, (_, i) => (
          <div key={i} className={`fleet-grid skeleton-row${i % 2 ? ' odd' : ''}`}>
            {Array.from({ length: 11 }, (_, j) => (
              <div key={j} className="td">
                <span className="skeleton" />
              </div>
            ))}
          </div>
        ))}
      </div>
    </div>
  );
}
