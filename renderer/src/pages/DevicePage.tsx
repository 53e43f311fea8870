import { useEffect, useRef, useState } from 'react';
import type { DeviceRow } from '../../../shared/fleet.js';
import { useApiEvent } from '../api/context.js';
import { Ago } from '../components/Ago.js';
import { DeviceCharts } from '../components/DeviceCharts.js';
import { ErrorNotice } from '../components/ErrorNotice.js';
import { EventLog } from '../components/EventLog.js';
import { ChevronLeftIcon } from '../components/Icons.js';
import { RangePicker } from '../components/RangePicker.js';
import { StatusBadge } from '../components/StatusBadge.js';
import {
  DASH,
  formatFraction,
  formatMs,
  formatPercent,
  formatRate,
  formatTemp,
  formatWatts,
  levelAgainst,
} from '../lib/format.js';
import { hrefFor } from '../lib/router.js';
import { RESOLUTION_LABEL, rangeMs, type RangeId } from '../lib/series.js';
import { throttle } from '../lib/throttle.js';
import { useCall } from '../lib/useCall.js';
import { useFleet } from '../state/fleet.js';

let keptRange: RangeId = '1h';

/** Live refreshes of the chart window: often for short ranges, rarely for long ones. */
function refreshEveryMs(range: RangeId): number {
  return Math.min(60_000, Math.max(5_000, rangeMs(range) / 720));
}

export function DevicePage({ deviceId }: { deviceId: string }) {
  const { fleet } = useFleet();
  const [range, setRange] = useState<RangeId>(keptRange);
  useEffect(() => {
    keptRange = range;
  }, [range]);

  const info = useCall('fleet.get', { deviceId }, deviceId);
  // The live row (from fleet.updated via the fleet store) wins over the one fetched at open.
  const liveIdx = fleet.indexById.get(deviceId);
  const liveRow = liveIdx === undefined ? undefined : fleet.rows[liveIdx];
  const device: DeviceRow | null = liveRow ?? info.data?.device ?? null;

  // The chart window ends "now" at each (re)load; `windowEnd` moves it. (A new device remounts the page.)
  const [windowEnd, setWindowEnd] = useState(() => Date.now());
  const pickRange = (r: RangeId) => {
    setRange(r);
    setWindowEnd(Date.now());
  };
  const fromTs = windowEnd - rangeMs(range);
  const series = useCall(
    'fleet.series',
    { deviceId, fromTs, toTs: windowEnd, resolution: 'auto' },
    `${deviceId}|${range}|${windowEnd}`,
  );
  // Data from another range is not shown under this range's label once loading it failed.
  const seriesRange = series.dataKey?.split('|')[1];
  const shown = series.error !== null && seriesRange !== range ? null : series.data;

  // Live: a throttled move of the window to "now" whenever this device reports.
  const refreshRef = useRef<ReturnType<typeof throttle> | null>(null);
  useEffect(() => {
    const t = throttle(() => setWindowEnd(Date.now()), refreshEveryMs(range));
    refreshRef.current = t;
    return () => {
      t.cancel();
      refreshRef.current = null;
    };
  }, [range]);
  useApiEvent('fleet.updated', (p) => {
    if (p.devices.some((d) => d.id === deviceId)) refreshRef.current?.();
  });

  if (info.error !== null && !device) {
    return (
      <div className="page device-page">
        <BackLink />
        <div className="center-state">
          <ErrorNotice error={info.error} title={`Could not open device ${deviceId}`} onRetry={info.reload} />
        </div>
      </div>
    );
  }

  return (
    <div className="page device-page" data-device-id={deviceId}>
      <BackLink name={device?.name} />
      {device ? (
        <DeviceHeader device={device} agentVersion={info.data?.identity?.agentVersion ?? null} />
      ) : (
        <HeaderSkeleton />
      )}

      <div className="toolbar device-toolbar">
        <RangePicker value={range} onChange={pickRange} />
        <span className="muted resolution" data-resolution={shown?.resolution ?? ''}>
          {shown
            ? `${RESOLUTION_LABEL[shown.resolution]} · ${shown.ts.length.toLocaleString('en-US')} points`
            : ''}
        </span>
        <div className="toolbar-right">
          {series.loading && <span className="spinner" aria-label="loading" />}
          <span className="muted">
            window ends <Ago ts={windowEnd} />
          </span>
        </div>
      </div>

      {series.error !== null && (
        <ErrorNotice
          error={series.error}
          title="Could not load the charts"
          onRetry={series.reload}
          compact={shown !== null}
        />
      )}
      {shown && device ? (
        <DeviceCharts series={shown} device={device} />
      ) : series.error === null ? (
        <ChartsSkeleton />
      ) : null}

      <EventLog deviceId={deviceId} />
    </div>
  );
}

function BackLink({ name }: { name?: string | undefined }) {
  return (
    <nav className="crumbs" aria-label="Breadcrumb">
      <a href={hrefFor({ page: 'fleet' })} className="crumb-link">
        <ChevronLeftIcon size={12} /> Fleet
      </a>
      {name && (
        <>
          <span className="crumb-sep">/</span>
          <span className="crumb-current">{name}</span>
        </>
      )}
    </nav>
  );
}

function Field({
  label,
  children,
  mono = false,
}: {
  label: string;
  children: React.ReactNode;
  mono?: boolean;
}) {
  return (
    <div className="field">
      <dt>{label}</dt>
      <dd className={mono ? 'mono' : undefined}>{children}</dd>
    </div>
  );
}

function Kpi({
  label,
  value,
  level = 'none',
  sub,
}: {
  label: string;
  value: string;
  level?: string;
  sub?: string;
}) {
  return (
    <div className="kpi">
      <div className="kpi-label">{label}</div>
      <div className={`kpi-value num level-${level}`}>{value}</div>
      {sub && <div className="kpi-sub">{sub}</div>}
    </div>
  );
}

function DeviceHeader({ device: d, agentVersion }: { device: DeviceRow; agentVersion: string | null }) {
  return (
    <header className="device-head panel">
      <div className="device-head-top">
        <div className="device-title">
          <h1>{d.name}</h1>
          <StatusBadge status={d.status} reasons={d.statusReasons} />
          {d.throttled && <span className="tag tag-warn">throttling</span>}
        </div>
        <div className="muted device-contact">
          last contact <Ago ts={d.lastContactTs} staleAfterMs={60_000} />
        </div>
      </div>
      {d.statusReasons.length > 0 && (
        <ul className={`reasons reasons-${d.status}`} data-testid="status-reasons">
          {d.statusReasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
      <div className="device-head-body">
        <dl className="fields">
          <Field label="Device id" mono>
            {d.id}
          </Field>
          <Field label="Hardware">{d.hardwareModel || DASH}</Field>
          <Field label="Accelerator">{d.accelerator}</Field>
          <Field label="Arch / OS">
            {d.arch || DASH} · {d.os || DASH}
          </Field>
          <Field label="Agent URL" mono>
            {d.url ?? 'simulated / not enrolled by URL'}
          </Field>
          <Field label="Model version" mono>
            {d.modelVersion ?? 'none loaded'}
          </Field>
          {agentVersion && (
            <Field label="Agent" mono>
              {agentVersion}
            </Field>
          )}
        </dl>
        <div className="kpis">
          <Kpi
            label="Temperature"
            value={formatTemp(d.tempC)}
            level={levelAgainst(d.tempC, d.limits.tempLimitC)}
            sub={`limit ${d.limits.tempLimitC} °C`}
          />
          <Kpi
            label="P95 latency"
            value={formatMs(d.latencyP95Ms)}
            level={levelAgainst(d.latencyP95Ms, d.limits.latencyBudgetMs)}
            sub={`budget ${formatMs(d.limits.latencyBudgetMs)}`}
          />
          <Kpi label="Throughput" value={formatRate(d.throughputIps)} />
          <Kpi
            label="Error rate"
            value={formatFraction(d.errorRate)}
            level={d.errorRate === 0 ? 'ok' : levelAgainst(d.errorRate, d.limits.errorRateLimit, 0.5)}
            sub={`limit ${formatFraction(d.limits.errorRateLimit)}`}
          />
          <Kpi label="CPU" value={formatPercent(d.cpuPct)} />
          <Kpi label="Memory" value={formatPercent(d.memPct)} />
          <Kpi label="Power" value={formatWatts(d.powerW)} />
        </div>
      </div>
    </header>
  );
}

function HeaderSkeleton() {
  return (
    <header className="device-head panel" aria-busy="true">
      <div className="device-head-top">
        <span className="skeleton skeleton-title" />
      </div>
      <div className="device-head-body">
        <span className="skeleton skeleton-block" />
      </div>
    </header>
  );
}

function ChartsSkeleton() {
  return (
    <div className="charts-grid" aria-busy="true">
      {['Temperature', 'Inference latency', 'CPU & memory', 'Power', 'Throughput & errors'].map((t) => (
        <section key={t} className="panel chart-panel">
          <div className="panel-head">
            <h2>{t}</h2>
          </div>
          <div className="chart-empty">
            <span className="skeleton skeleton-chart" />
          </div>
        </section>
      ))}
    </div>
  );
}
