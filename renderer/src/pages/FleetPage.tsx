import type { SortingState } from '@tanstack/react-table';
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import type { DeviceStatus } from '../../../shared/fleet.js';
import { EnrollDialog } from '../components/EnrollDialog.js';
import { ErrorNotice } from '../components/ErrorNotice.js';
import { FleetSummary } from '../components/FleetSummary.js';
import { FleetTable, FleetTableSkeleton } from '../components/FleetTable.js';
import type { SparkMetric } from '../components/fleetColumns.js';
import { SearchIcon } from '../components/Icons.js';
import { STATUS_LABEL } from '../components/StatusBadge.js';
import { Ago } from '../components/Ago.js';
import { countByStatus, hottestDevice, matchesSearch, STATUSES } from '../lib/fleetRows.js';
import { useFleet } from '../state/fleet.js';

/** What the Fleet page remembers while the operator is on a device page. */
const kept = {
  search: '',
  statuses: [] as DeviceStatus[],
  sorting: [{ id: 'status', desc: true }] as SortingState,
  sparkMetric: 'latencyP95Ms' as SparkMetric,
  scrollTop: 0,
};

export function FleetPage() {
  const { fleet, loaded, loading, error, reload, sparklines } = useFleet();
  const [search, setSearch] = useState(kept.search);
  const [statuses, setStatuses] = useState<DeviceStatus[]>(kept.statuses);
  const [sorting, setSorting] = useState<SortingState>(kept.sorting);
  const [sparkMetric, setSparkMetric] = useState<SparkMetric>(kept.sparkMetric);
  useEffect(() => {
    Object.assign(kept, { search, statuses, sorting, sparkMetric });
  }, [search, statuses, sorting, sparkMetric]);
  const onScrollTopChange = useCallback((top: number) => {
    kept.scrollTop = top;
  }, []);

  const deferredSearch = useDeferredValue(search);
  const matches = useMemo(
    () =>
      deferredSearch.trim() === '' ? fleet.rows : fleet.rows.filter((r) => matchesSearch(r, deferredSearch)),
    [fleet.rows, deferredSearch],
  );
  const matchCounts = useMemo(() => countByStatus(matches), [matches]);
  const visible = useMemo(
    () => (statuses.length === 0 ? matches : matches.filter((r) => statuses.includes(r.status))),
    [matches, statuses],
  );
  const fleetCounts = useMemo(() => countByStatus(fleet.rows), [fleet.rows]);
  const hottest = useMemo(() => hottestDevice(fleet.rows), [fleet.rows]);

  const [enrolling, setEnrolling] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === '/' && document.activeElement?.tagName !== 'INPUT') {
        e.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const toggleStatus = (s: DeviceStatus) =>
    setStatuses((cur) => (cur.includes(s) ? cur.filter((x) => x !== s) : [...cur, s]));
  const filtered = search.trim() !== '' || statuses.length > 0;
  const clear = () => {
    setSearch('');
    setStatuses([]);
  };

  return (
    <div className="page fleet-page">
      <EnrollDialog open={enrolling} onClose={() => setEnrolling(false)} />
      <header className="page-head">
        <div className="page-title">
          <h1>Fleet</h1>
          <span className="page-sub">
            {loaded ? (
              <>
                as of <Ago ts={fleet.asOfTs || null} />
              </>
            ) : (
              'loading…'
            )}
          </span>
        </div>
        <FleetSummary total={fleet.rows.length} counts={fleetCounts} hottest={hottest} />
      </header>

      <div className="toolbar">
        <label className="search">
          <SearchIcon className="search-icon" />
          <input
            ref={searchRef}
            type="search"
            placeholder="Search name, id, hardware, model…"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') setSearch('');
            }}
            aria-label="Search devices"
            spellCheck={false}
          />
          <kbd className="search-kbd">/</kbd>
        </label>
        <div className="chips" role="group" aria-label="Filter by status">
          <button
            type="button"
            className={`chip${statuses.length === 0 ? ' on' : ''}`}
            onClick={() => setStatuses([])}
            aria-pressed={statuses.length === 0}
          >
            All <span className="chip-count">{matches.length.toLocaleString('en-US')}</span>
          </button>
          {STATUSES.map((s) => (
            <button
              key={s}
              type="button"
              className={`chip chip-${s}${statuses.includes(s) ? ' on' : ''}`}
              onClick={() => toggleStatus(s)}
              aria-pressed={statuses.includes(s)}
              data-status-chip={s}
            >
              <span className={`status-dot dot-${s}`} aria-hidden="true" />
              {STATUS_LABEL[s]} <span className="chip-count">{matchCounts[s].toLocaleString('en-US')}</span>
            </button>
          ))}
        </div>
        <div className="toolbar-right">
          {filtered && (
            <span className="muted" data-testid="shown-count">
              {visible.length.toLocaleString('en-US')} of {fleet.rows.length.toLocaleString('en-US')} shown
            </span>
          )}
          {loading && loaded && <span className="spinner" aria-label="refreshing" />}
          <button type="button" className="btn btn-primary" onClick={() => setEnrolling(true)}>
            Enroll device
          </button>
        </div>
      </div>

      {error !== null && loaded && (
        <ErrorNotice error={error} title="Could not refresh the fleet" onRetry={reload} compact />
      )}

      <div className="fleet-table-wrap">
        {!loaded && error !== null ? (
          <div className="center-state">
            <ErrorNotice error={error} title="Could not load the fleet" onRetry={reload} />
          </div>
        ) : !loaded ? (
          <FleetTableSkeleton />
        ) : (
          <FleetTable
            rows={visible}
            sorting={sorting}
            onSortingChange={setSorting}
            sparklines={sparklines}
            sparkMetric={sparkMetric}
            onSparkMetricChange={setSparkMetric}
            initialScrollTop={kept.scrollTop}
            onScrollTopChange={onScrollTopChange}
            empty={
              fleet.rows.length === 0 ? (
                <div className="empty-state">
                  <div className="empty-title">No devices yet</div>
                  <div className="empty-hint">
                    Use <b>Enroll device</b> above, start the console with <code>--enroll agents.json</code>{' '}
                    (as written by <code>edgectl simulate --enroll-file</code>), or with{' '}
                    <code>--simulate 20</code> to try it with a simulated fleet.
                  </div>
                </div>
              ) : (
                <div className="empty-state">
                  <div className="empty-title">No devices match</div>
                  <div className="empty-hint">
                    {search.trim() !== '' && (
                      <>
                        Nothing matches “{search.trim()}”
                        {statuses.length > 0
                          ? ` with status ${statuses.map((s) => STATUS_LABEL[s].toLowerCase()).join(' or ')}`
                          : ''}
                        .{' '}
                      </>
                    )}
                    <button type="button" className="link-btn" onClick={clear}>
                      Clear filters
                    </button>
                  </div>
                </div>
              )
            }
          />
        )}
      </div>
    </div>
  );
}
