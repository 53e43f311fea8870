import { useMemo } from 'react';
import type uPlot from 'uplot';
import type { DeviceRow, Series } from '../../../shared/fleet.js';
import {
  formatMs,
  formatNumber,
  formatPercent,
  formatRate,
  formatTemp,
  formatTick,
  formatWatts,
} from '../lib/format.js';
import {
  allNull,
  constantColumn,
  countPoints,
  findColumn,
  hasBand,
  metricColumn,
  type Column,
} from '../lib/series.js';
import { TimeChart, type ChartAxis, type ChartSeries } from './TimeChart.js';

const C = {
  temp: '#ff9f43',
  tempBand: 'rgba(255,159,67,0.16)',
  limit: 'rgba(248,81,73,0.85)',
  p50: '#4cc9f0',
  p95: '#a78bfa',
  p99: '#f472b6',
  cpu: '#5ab0ff',
  mem: '#7ee787',
  power: '#ffd166',
  powerBand: 'rgba(255,209,102,0.14)',
  ips: '#5ab0ff',
  errors: '#f85149',
};

const SYNC = 'device-charts';

interface PanelProps {
  title: string;
  latest?: string;
  note?: string;
  children: React.ReactNode;
  testId: string;
}

function ChartPanel({ title, latest, note, children, testId }: PanelProps) {
  return (
    <section className="panel chart-panel" data-testid={testId} aria-label={title}>
      <div className="panel-head">
        <h2>{title}</h2>
        {latest !== undefined && <span className="panel-latest num">{latest}</span>}
        {note && <span className="panel-note">{note}</span>}
      </div>
      {children}
    </section>
  );
}

function NoData({ text }: { text: string }) {
  return <div className="chart-empty">{text}</div>;
}

const sumPoints = (...cols: Column[]) => cols.reduce((n, c) => n + countPoints(c), 0);

/** The Device page's charts, built from one Series. Rollups draw avg lines with min–max bands. */
export function DeviceCharts({ series, device }: { series: Series; device: DeviceRow }) {
  const n = series.ts.length;
  const ts = series.ts;
  const rollup = series.resolution !== 'raw';
  const xRange = useMemo<[number, number]>(() => [series.fromTs, series.toTs], [series.fromTs, series.toTs]);
  const { tempLimitC, latencyBudgetMs } = device.limits;

  const temp = useMemo(() => {
    const avg = metricColumn(series, 'tempC', 'avg');
    const band = hasBand(series, 'tempC');
    const s: ChartSeries[] = [];
    const data: Column[] = [];
    if (band) {
      s.push({ label: 'max', color: 'rgba(255,159,67,0.45)', width: 1, format: formatTemp, secondary: true });
      data.push(metricColumn(series, 'tempC', 'max'));
    }
    s.push({ label: rollup ? 'avg' : 'temperature', color: C.temp, width: 1.75, format: formatTemp });
    data.push(avg);
    if (band) {
      s.push({ label: 'min', color: 'rgba(255,159,67,0.45)', width: 1, format: formatTemp, secondary: true });
      data.push(metricColumn(series, 'tempC', 'min'));
    }
    s.push({ label: 'limit', color: C.limit, dash: [5, 4], width: 1, format: formatTemp, secondary: true });
    data.push(constantColumn(n, tempLimitC));
    return {
      series: s,
      data: [ts, ...data] as uPlot.AlignedData,
      bands: band ? [{ upper: 1, lower: 3, fill: C.tempBand }] : undefined,
      points: sumPoints(...data.slice(0, band ? 3 : 1)),
      empty: allNull(avg),
    };
  }, [series, ts, n, rollup, tempLimitC]);

  const latency = useMemo(() => {
    const p50 = metricColumn(series, 'latencyP50Ms');
    const p95 = metricColumn(series, 'latencyP95Ms');
    const p99 = metricColumn(series, 'latencyP99Ms');
    return {
      series: [
        { label: 'P50', color: C.p50, format: formatMs },
        { label: 'P95', color: C.p95, format: formatMs, width: 1.75 },
        { label: 'P99', color: C.p99, format: formatMs },
        { label: 'budget', color: C.limit, dash: [5, 4], width: 1, format: formatMs, secondary: true },
      ] satisfies ChartSeries[],
      data: [ts, p50, p95, p99, constantColumn(n, latencyBudgetMs)] as uPlot.AlignedData,
      points: sumPoints(p50, p95, p99),
      empty: allNull(p50, p95, p99),
    };
  }, [series, ts, n, latencyBudgetMs]);

  const usage = useMemo(() => {
    const cpu = metricColumn(series, 'cpuPct');
    const mem = metricColumn(series, 'memPct');
    return {
      series: [
        { label: 'CPU', color: C.cpu, format: formatPercent },
        { label: 'memory', color: C.mem, format: formatPercent },
      ] satisfies ChartSeries[],
      data: [ts, cpu, mem] as uPlot.AlignedData,
      points: sumPoints(cpu, mem),
      empty: allNull(cpu, mem),
    };
  }, [series, ts]);

  const power = useMemo(() => {
    const avg = metricColumn(series, 'powerW');
    const band = hasBand(series, 'powerW');
    const s: ChartSeries[] = [];
    const data: Column[] = [];
    if (band) {
      s.push({
        label: 'max',
        color: 'rgba(255,209,102,0.4)',
        width: 1,
        format: formatWatts,
        secondary: true,
      });
      data.push(metricColumn(series, 'powerW', 'max'));
    }
    s.push({ label: rollup ? 'avg' : 'power', color: C.power, width: 1.75, format: formatWatts });
    data.push(avg);
    if (band) {
      s.push({
        label: 'min',
        color: 'rgba(255,209,102,0.4)',
        width: 1,
        format: formatWatts,
        secondary: true,
      });
      data.push(metricColumn(series, 'powerW', 'min'));
    }
    return {
      series: s,
      data: [ts, ...data] as uPlot.AlignedData,
      bands: band ? [{ upper: 1, lower: 3, fill: C.powerBand }] : undefined,
      points: sumPoints(...data),
      empty: allNull(avg),
    };
  }, [series, ts, rollup]);

  const work = useMemo(() => {
    const ips = metricColumn(series, 'throughputIps');
    const errors = findColumn(series, ['errors']);
    const s: ChartSeries[] = [{ label: 'throughput', color: C.ips, format: formatRate, width: 1.75 }];
    const data: Column[] = [ips];
    if (errors) {
      s.push({
        label: 'errors',
        color: C.errors,
        format: (v) => (v === null || v === undefined ? '—' : formatNumber(v, 0)),
        scale: 'errors',
      });
      data.push(errors);
    }
    return {
      series: s,
      data: [ts, ...data] as uPlot.AlignedData,
      points: sumPoints(...data),
      empty: allNull(ips),
      hasErrors: errors !== null,
    };
  }, [series, ts]);

  const noteEmpty = n === 0 ? 'No samples in this range.' : null;
  const tempAxes: ChartAxis[] = [{ scale: 'y', format: (v) => `${formatTick(v)} °C` }];
  const msAxes: ChartAxis[] = [
    { scale: 'y', format: (v) => (v < 1000 ? `${formatTick(v)} ms` : `${formatTick(v / 1000)} s`) },
  ];
  const pctAxes: ChartAxis[] = [{ scale: 'y', format: (v) => `${formatTick(v)} %`, range: [0, 100] }];
  const wAxes: ChartAxis[] = [{ scale: 'y', format: (v) => `${formatTick(v)} W` }];
  const workAxes: ChartAxis[] = work.hasErrors
    ? [
        { scale: 'y', format: (v) => `${formatTick(v)}/s` },
        { scale: 'errors', format: (v) => `${formatTick(v)} err`, side: 'right' },
      ]
    : [{ scale: 'y', format: (v) => `${formatTick(v)}/s` }];
  const bucket = series.resolution === '1m' ? 'per minute' : series.resolution === '1h' ? 'per hour' : '';

  return (
    <div className="charts-grid">
      <ChartPanel
        title="Temperature"
        testId="chart-temperature"
        latest={formatTemp(device.tempC)}
        note={`limit ${tempLimitC} °C`}
      >
        {temp.empty ? (
          <NoData text={noteEmpty ?? 'This device reports no temperature in this range.'} />
        ) : (
          <TimeChart
            data={temp.data}
            series={temp.series}
            bands={temp.bands}
            axes={tempAxes}
            syncKey={SYNC}
            xRange={xRange}
            points={temp.points}
          />
        )}
      </ChartPanel>
      <ChartPanel
        title="Inference latency"
        testId="chart-latency"
        latest={`P95 ${formatMs(device.latencyP95Ms)}`}
        note={`budget ${formatMs(latencyBudgetMs)}`}
      >
        {latency.empty ? (
          <NoData text={noteEmpty ?? 'No inference latency in this range (no model running?).'} />
        ) : (
          <TimeChart
            data={latency.data}
            series={latency.series}
            axes={msAxes}
            syncKey={SYNC}
            xRange={xRange}
            points={latency.points}
          />
        )}
      </ChartPanel>
      <ChartPanel
        title="CPU & memory"
        testId="chart-usage"
        latest={`${formatPercent(device.cpuPct)} · ${formatPercent(device.memPct)}`}
      >
        {usage.empty ? (
          <NoData text={noteEmpty ?? 'No CPU or memory readings in this range.'} />
        ) : (
          <TimeChart
            data={usage.data}
            series={usage.series}
            axes={pctAxes}
            syncKey={SYNC}
            xRange={xRange}
            points={usage.points}
          />
        )}
      </ChartPanel>
      <ChartPanel title="Power" testId="chart-power" latest={formatWatts(device.powerW)}>
        {power.empty ? (
          <NoData
            text={
              noteEmpty ??
              (device.powerW === null
                ? 'This device does not report power.'
                : 'This device does not report power in this range.')
            }
          />
        ) : (
          <TimeChart
            data={power.data}
            series={power.series}
            bands={power.bands}
            axes={wAxes}
            syncKey={SYNC}
            xRange={xRange}
            points={power.points}
          />
        )}
      </ChartPanel>
      <ChartPanel
        title="Throughput & errors"
        testId="chart-throughput"
        latest={formatRate(device.throughputIps)}
        note={work.hasErrors ? `errors ${bucket}` : 'error counts show on ranges over 6 h'}
      >
        {work.empty ? (
          <NoData text={noteEmpty ?? 'No inferences in this range.'} />
        ) : (
          <TimeChart
            data={work.data}
            series={work.series}
            axes={workAxes}
            syncKey={SYNC}
            xRange={xRange}
            points={work.points}
          />
        )}
      </ChartPanel>
    </div>
  );
}
