import { formatMs } from '../lib/format.js';
import { useNow } from '../lib/ticker.js';

export interface ActiveBuild {
  jobId: string;
  buildId: string;
  label: string;
  fraction: number;
  message: string;
  startedAt: number;
  cancelling: boolean;
}

/** A running build: bar, stage message, elapsed time and Cancel. The work runs in the console's build worker. */
export function BuildProgress({ build, onCancel }: { build: ActiveBuild; onCancel: () => void }) {
  const now = useNow();
  const pct = Math.round(build.fraction * 100);
  return (
    <div className="build-progress" data-testid="build-progress" aria-live="polite">
      <div className="build-progress-head">
        <span className="spinner" aria-hidden="true" />
        <span className="build-progress-label">Building {build.label}</span>
        <span className="muted num">{formatMs(Math.max(0, now - build.startedAt))}</span>
        <button
          type="button"
          className="btn build-cancel"
          onClick={onCancel}
          disabled={build.cancelling}
          data-testid="build-cancel"
        >
          {build.cancelling ? 'Cancelling…' : 'Cancel'}
        </button>
      </div>
      <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <div className="build-progress-msg">
        <span className="num">{pct} %</span> <span data-testid="build-stage">{build.message}</span>
      </div>
    </div>
  );
}
