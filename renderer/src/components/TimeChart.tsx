import { useEffect, useLayoutEffect, useRef } from 'react';
import uPlot from 'uplot';
import { formatDateTime, formatTimeTick } from '../lib/format.js';

export interface ChartSeries {
  label: string;
  color: string;
  format: (v: number | null | undefined) => string;
  scale?: string;
  dash?: number[];
  width?: number;
  fill?: string;
  /** Band edges and limit lines: drawn, listed in the legend, but not the panel's headline. */
  secondary?: boolean;
}

export interface ChartAxis {
  scale: string;
  format: (v: number) => string;
  side?: 'left' | 'right';
  range?: [number, number];
}

interface Props {
  /** [ts, ...one column per series]. */
  data: uPlot.AlignedData;
  series: readonly ChartSeries[];
  axes: readonly ChartAxis[];
  /** The x window (query from/to): the axis spans it even where there is no data yet. */
  xRange?: [number, number];
  /** Pairs of series indexes (1-based like uPlot, upper then lower) to fill between. */
  bands?: readonly { upper: number; lower: number; fill: string }[];
  height?: number;
  syncKey?: string;
  /** For tests and the curious: non-null points across the data series. */
  points: number;
}

const AXIS_STROKE = '#8a94a3';
const GRID = 'rgba(255,255,255,0.06)';
const FONT = '11px Inter, "Segoe UI", system-ui, sans-serif';

/**
 * A uPlot time-series chart that follows its container's width. The chart is built once per shape
 * (series and axes) and fed new data with setData, so live refreshes do not flicker.
 */
export function TimeChart({ data, series, axes, bands, xRange, height = 180, syncKey, points }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = JSON.stringify({
    s: series.map((s) => [s.label, s.color, s.scale, s.dash, s.width, s.fill]),
    a: axes.map((a) => [a.scale, a.side, a.range]),
    b: bands,
    height,
  });
  const latest = useRef({ data, series, axes, bands, xRange });
  // Declared before the chart's effect, so it runs first: the chart is built from the latest props.
  useLayoutEffect(() => {
    latest.current = { data, series, axes, bands, xRange };
  });

  useLayoutEffect(() => {
    const el = host.current;
    if (!el) return;
    const { data: d0, series: s0, axes: a0, bands: b0 } = latest.current;
    const scales: uPlot.Scales = {
      x: { time: true, range: (_u, min, max) => latest.current.xRange ?? [min ?? 0, max ?? 1] },
    };
    for (const a of a0) {
      const range = a.range;
      scales[a.scale] = range
        ? { range: (_u, min, max) => [Math.min(range[0], min), Math.max(range[1], max)] }
        : { range: (_u, min, max) => padRange(min, max) };
    }
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 100),
      height,
      ms: 1,
      pxAlign: 0,
      cursor: {
        sync: syncKey ? { key: syncKey } : undefined,
        points: { size: 6 },
        drag: { x: false, y: false },
      },
      legend: { live: true },
      scales,
      series: [
        { label: 'Time', value: (_u, v) => (v === null ? '—' : formatDateTime(v)) },
        ...s0.map<uPlot.Series>((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          scale: s.scale ?? a0[0]?.scale ?? 'y',
          dash: s.dash,
          fill: s.fill,
          spanGaps: false,
          // uPlot shows point markers when the data is sparse enough (a fresh device, a long range).
          points: s.secondary ? { show: false } : { size: 4, width: 1 },
          value: (_u, v) => s.format(v),
        })),
      ],
      bands: b0?.map((b) => ({ series: [b.upper, b.lower] as [number, number], fill: b.fill })),
      axes: [
        {
          stroke: AXIS_STROKE,
          font: FONT,
          grid: { stroke: GRID, width: 1 },
          ticks: { stroke: GRID, width: 1, size: 4 },
          space: 80,
          values: (u, splits) => {
            const span = (u.scales.x?.max ?? 0) - (u.scales.x?.min ?? 0);
            return splits.map((v) => formatTimeTick(v, span));
          },
        },
        ...a0.map<uPlot.Axis>((a, i) => ({
          scale: a.scale,
          side: a.side === 'right' ? 1 : 3,
          stroke: AXIS_STROKE,
          font: FONT,
          size: 62,
          grid: { show: i === 0, stroke: GRID, width: 1 },
          ticks: { stroke: GRID, width: 1, size: 4 },
          values: (_u, splits) => splits.map((v) => a.format(v)),
        })),
      ],
      plugins: [tooltipPlugin()],
    };
    const u = new uPlot(opts, d0, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 100);
      if (Math.abs(w - u.width) >= 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape, height, syncKey]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div className="chart" ref={host} data-points={points} />;
}

function padRange(min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null) return [0, 1];
  if (min === max) return min === 0 ? [0, 1] : [min - Math.abs(min) * 0.1, max + Math.abs(max) * 0.1];
  const pad = (max - min) * 0.08;
  return [min >= 0 && min - pad < 0 ? 0 : min - pad, max + pad];
}

/** A small floating readout next to the cursor: time plus each visible series. */
function tooltipPlugin(): uPlot.Plugin {
  let tip: HTMLDivElement | null = null;
  return {
    hooks: {
      ready: (u) => showLatestInLegend(u),
      setData: (u) => {
        if (u.cursor.idx === null || u.cursor.idx === undefined) showLatestInLegend(u);
      },
      init: (u) => {
        tip = document.createElement('div');
        tip.className = 'chart-tip';
        tip.hidden = true;
        u.over.appendChild(tip);
        u.over.addEventListener('mouseleave', () => {
          if (tip) tip.hidden = true;
        });
      },
      setCursor: (u) => {
        if (!tip) return;
        const idx = u.cursor.idx;
        const left = u.cursor.left ?? -1;
        if (idx === null || idx === undefined || left < 0) {
          tip.hidden = true;
          showLatestInLegend(u);
          return;
        }
        const ts = u.data[0][idx];
        tip.replaceChildren();
        const head = document.createElement('div');
        head.className = 'chart-tip-time';
        head.textContent = ts === undefined ? '' : formatDateTime(ts);
        tip.appendChild(head);
        u.series.forEach((s, i) => {
          if (i === 0 || s.show === false) return;
          const v = u.data[i]?.[idx];
          const row = document.createElement('div');
          row.className = 'chart-tip-row';
          const sw = document.createElement('span');
          sw.className = 'chart-tip-swatch';
          sw.style.background = typeof s.stroke === 'string' ? s.stroke : AXIS_STROKE;
          const label = document.createElement('span');
          label.textContent = typeof s.label === 'string' ? s.label : '';
          const val = document.createElement('span');
          val.className = 'chart-tip-val';
          const fmt = s.value;
          val.textContent =
            v === null || v === undefined
              ? '—'
              : typeof fmt === 'function'
                ? String(fmt(u, v, i, idx))
                : String(v);
          row.append(sw, label, val);
          tip?.appendChild(row);
        });
        tip.hidden = false;
        const w = u.over.clientWidth;
        const tw = tip.offsetWidth;
        const x = left + 14 + tw > w ? left - tw - 14 : left + 14;
        tip.style.transform = `translate(${Math.max(0, x)}px, 6px)`;
      },
    },
  };
}

/** With the cursor away, the legend reads the newest point instead of dashes. */
function showLatestInLegend(u: uPlot): void {
  const n = u.data[0]?.length ?? 0;
  if (n > 0) u.setLegend({ idx: n - 1 }, false);
}
