/** Small pieces the Builds page's components share: formatting and status pills. */
import type { ReactNode } from 'react';
import type { BuildStatus } from '../../../shared/artifact.js';
import type { ValueInfo } from '../../../shared/contract.js';
import { DASH } from '../lib/format.js';

export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return DASH;
  const abs = Math.abs(n);
  if (abs >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (abs >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(abs >= 100 * 1024 ** 2 ? 0 : 2)} MiB`;
  if (abs >= 1024) return `${(n / 1024).toFixed(abs >= 100 * 1024 ? 0 : 1)} KiB`;
  return `${n} B`;
}

/** 133,665 → "133.7 k"; counts of parameters and nodes. */
export function formatCount(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return DASH;
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return n.toLocaleString('en-US');
}

export function formatRatio(r: number | null | undefined): string {
  if (typeof r !== 'number' || !Number.isFinite(r)) return DASH;
  return `×${r.toFixed(r < 0.1 ? 3 : 2)}`;
}

/** SQNR in dB; null (identical outputs: infinite SQNR) reads as ∞. */
export function formatDb(db: number | null | undefined): string {
  if (db === null) return '∞ dB';
  if (typeof db !== 'number' || !Number.isFinite(db)) return DASH;
  return `${db.toFixed(1)} dB`;
}

export function formatCosine(c: number | null | undefined): string {
  if (typeof c !== 'number' || !Number.isFinite(c)) return DASH;
  return c.toFixed(c > 0.9999 ? 6 : 4);
}

export function formatShape(shape: ValueInfo['shape']): string {
  if (shape === null) return 'unknown';
  return `[${shape.join(', ')}]`;
}

/** Lower SQNR = more quantization noise. Under 10 dB is bad, under 20 dB worth a look. */
export function sqnrLevel(db: number | null): 'ok' | 'warn' | 'crit' {
  if (db === null) return 'ok';
  if (db < 10) return 'crit';
  if (db < 20) return 'warn';
  return 'ok';
}

export function cosineLevel(c: number | null): 'ok' | 'warn' | 'crit' {
  if (c === null) return 'ok';
  if (c < 0.98) return 'crit';
  if (c < 0.995) return 'warn';
  return 'ok';
}

const BUILD_STATUS_LABEL: Record<BuildStatus | 'running', string> = {
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  running: 'Running',
};

export function BuildStatusBadge({ status }: { status: BuildStatus | 'running' }) {
  return (
    <span className={`status-badge build-status-${status}`} data-build-status={status}>
      <span className="status-dot" aria-hidden="true" />
      {BUILD_STATUS_LABEL[status]}
    </span>
  );
}

/** A small yes/no pill: compatibility verdicts, compile status, signature checks. */
export function Verdict({ ok, children }: { ok: boolean | null; children: ReactNode }) {
  const cls = ok === null ? 'verdict-neutral' : ok ? 'verdict-ok' : 'verdict-bad';
  return <span className={`verdict ${cls}`}>{children}</span>;
}

export function Kpi({
  label,
  value,
  sub,
  level,
  testId,
}: {
  label: string;
  value: ReactNode;
  sub?: ReactNode;
  level?: 'ok' | 'warn' | 'crit' | undefined;
  testId?: string;
}) {
  return (
    <div className="kpi">
      <div className="kpi-label">{label}</div>
      <div className={`kpi-value${level ? ` level-${level}` : ''}`} data-testid={testId}>
        {value}
      </div>
      {sub !== undefined && <div className="kpi-sub">{sub}</div>}
    </div>
  );
}
