import type { BuildRecord } from '../../../shared/artifact.js';
import type { RunningBuild } from '../../../shared/contract.js';
import type { TargetProfile } from '../../../shared/targets.js';
import { formatMs } from '../lib/format.js';
import { Ago } from './Ago.js';
import { BuildStatusBadge, cosineLevel, formatCosine, formatRatio } from './BuildShared.js';

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Past builds, newest first (running ones on top); a row opens its report. */
export function BuildList({
  builds,
  running,
  targets,
  selectedId,
  onOpen,
}: {
  builds: readonly BuildRecord[];
  running: readonly RunningBuild[];
  targets: readonly TargetProfile[];
  selectedId: string | null;
  onOpen: (id: string) => void;
}) {
  const label = (id: string) => targets.find((t) => t.id === id)?.label ?? id;
  if (builds.length === 0 && running.length === 0) {
    return (
      <div className="empty-state build-list-empty">
        <div className="empty-title">No builds yet</div>
        <div className="empty-hint">
          Builds started here or with <code>edgectl build</code> on this data folder show up in this list.
        </div>
      </div>
    );
  }
  return (
    <table className="data-table build-list" data-testid="build-list" data-row-count={builds.length}>
      <thead>
        <tr>
          <th>Status</th>
          <th>Name</th>
          <th>Version</th>
          <th>Target</th>
          <th>Precision</th>
          <th className="right">Size</th>
          <th className="right">Agreement</th>
          <th>Started</th>
          <th className="right">Took</th>
        </tr>
      </thead>
      <tbody>
        {running.map((r) => (
          <tr key={r.buildId} className="build-row running" data-build-id={r.buildId}>
            <td>
              <BuildStatusBadge status="running" />
            </td>
            <td className="strong">{r.name}</td>
            <td className="mono">{r.version}</td>
            <td className="truncate">{label(r.target)}</td>
            <td>
              {r.precision.toUpperCase()}
              {r.mode ? <span className="muted"> {r.mode}</span> : null}
            </td>
            <td colSpan={2} className="muted truncate" title={r.message}>
              {Math.round(r.fraction * 100)} % · {r.message}
            </td>
            <td>
              <Ago ts={r.startedAt} />
            </td>
            <td />
          </tr>
        ))}
        {builds.map((b) => {
          const ratio = num(b.summary.sizeRatio);
          const agreement = num(b.summary.agreement);
          return (
            <tr
              key={b.id}
              className={`build-row${b.id === selectedId ? ' selected' : ''}`}
              data-build-id={b.id}
              data-status={b.status}
              tabIndex={0}
              onClick={() => onOpen(b.id)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onOpen(b.id);
                }
              }}
              aria-selected={b.id === selectedId}
            >
              <td>
                <BuildStatusBadge status={b.status} />
              </td>
              <td className="strong truncate" title={b.error ?? b.sourceName ?? undefined}>
                {b.name}
              </td>
              <td className="mono">{b.version}</td>
              <td className="truncate">{label(b.target)}</td>
              <td>
                {b.precision.toUpperCase()}
                {b.mode ? <span className="muted"> {b.mode}</span> : null}
              </td>
              <td className="right num">{formatRatio(ratio)}</td>
              <td
                className={`right num${agreement !== null ? ` level-${cosineLevel(agreement)}` : ' muted'}`}
              >
                {agreement !== null ? formatCosine(agreement) : '—'}
              </td>
              <td>
                <Ago ts={b.createdAt} />
              </td>
              <td className="right num muted">{formatMs(b.durationMs)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
