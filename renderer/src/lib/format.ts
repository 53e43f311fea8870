/** Display formatting. Every function takes null for "not reported" and returns an em dash for it. */

export const DASH = '—';

function finite(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Fixed decimals that shrink as the magnitude grows, so columns stay narrow and readable. */
export function formatNumber(v: number | null | undefined, maxDigits = 1): string {
  if (!finite(v)) return DASH;
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? Math.min(1, maxDigits) : maxDigits;
  return v.toFixed(digits);
}

export function formatTemp(c: number | null | undefined): string {
  return finite(c) ? `${c.toFixed(1)} °C` : DASH;
}

export function formatMs(ms: number | null | undefined): string {
  if (!finite(ms)) return DASH;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** Inferences per second with k/M suffixes. */
export function formatRate(ips: number | null | undefined, unit = '/s'): string {
  if (!finite(ips)) return DASH;
  const abs = Math.abs(ips);
  if (abs >= 1e6) return `${(ips / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M${unit}`;
  if (abs >= 1e3) return `${(ips / 1e3).toFixed(abs >= 1e4 ? 0 : 1)}k${unit}`;
  if (abs >= 100) return `${Math.round(ips)}${unit}`;
  return `${ips.toFixed(1)}${unit}`;
}

/** A 0..1 fraction as a percentage with precision where it matters (error rates are small). */
export function formatFraction(f: number | null | undefined): string {
  if (!finite(f)) return DASH;
  const pct = f * 100;
  if (pct === 0) return '0 %';
  if (pct < 0.01) return '<0.01 %';
  if (pct < 10) return `${pct.toFixed(2)} %`;
  return `${pct.toFixed(1)} %`;
}

/** A value already in percent (CPU, memory). */
export function formatPercent(pct: number | null | undefined): string {
  return finite(pct) ? `${pct.toFixed(pct >= 10 ? 0 : 1)} %` : DASH;
}

export function formatWatts(w: number | null | undefined): string {
  if (!finite(w)) return DASH;
  if (w >= 1000) return `${(w / 1000).toFixed(2)} kW`;
  return `${w.toFixed(w >= 100 ? 0 : 1)} W`;
}

/** "12 s ago", "5 min ago"; future timestamps (clock skew) read as "just now". */
export function formatAgo(ts: number | null | undefined, nowTs: number): string {
  if (!finite(ts)) return 'never';
  const s = Math.floor((nowTs - ts) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local wall-clock "YYYY-MM-DD HH:MM:SS": operators compare it with device logs. */
export function formatDateTime(ts: number | null | undefined): string {
  if (!finite(ts)) return DASH;
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatTime(ts: number | null | undefined): string {
  if (!finite(ts)) return DASH;
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export type Level = 'none' | 'ok' | 'warn' | 'crit';

/**
 * Where a reading sits against its limit: over the limit is critical, within `warnAt` of it a
 * warning. Used for temperature, latency and error-rate colouring so they read the same way.
 */
export function levelAgainst(
  value: number | null | undefined,
  limit: number | null | undefined,
  warnAt = 0.85,
): Level {
  if (!finite(value)) return 'none';
  if (!finite(limit) || limit <= 0) return 'ok';
  if (value > limit) return 'crit';
  if (value >= limit * warnAt) return 'warn';
  return 'ok';
}

export function pluralize(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** Axis tick numbers: at most `maxDigits` decimals, trailing zeros dropped ("80", "2.5"). */
export function formatTick(v: number, maxDigits = 2): string {
  if (!Number.isFinite(v)) return '';
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${Number((v / 1e6).toFixed(1))}M`;
  if (abs >= 1e4) return `${Number((v / 1e3).toFixed(1))}k`;
  return String(Number(v.toFixed(abs >= 100 ? 0 : maxDigits)));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Time-axis labels for a visible span: clock time for a day or so, dates beyond. 24-hour, local. */
export function formatTimeTick(ts: number, spanMs: number): string {
  const d = new Date(ts);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const day = `${MONTHS[d.getMonth()] ?? ''} ${d.getDate()}`;
  if (spanMs <= 36 * 3_600_000) return hm;
  if (spanMs <= 8 * 86_400_000) return d.getHours() === 0 && d.getMinutes() === 0 ? day : `${day} ${hm}`;
  return day;
}
