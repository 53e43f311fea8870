import type { DeviceRow, DeviceStatus } from '../../../shared/fleet.js';
import { STATUSES, type StatusCounts } from '../lib/fleetRows.js';
import { formatTemp, levelAgainst } from '../lib/format.js';
import { hrefFor } from '../lib/router.js';
import { ThermometerIcon } from './Icons.js';
import { STATUS_LABEL } from './StatusBadge.js';

/** Fleet-wide numbers: counts per status with a proportion bar, and the hottest device. */
export function FleetSummary({
  total,
  counts,
  hottest,
}: {
  total: number;
  counts: StatusCounts;
  hottest: DeviceRow | null;
}) {
  return (
    <div className="summary">
      <div className="summary-tile summary-total">
        <div className="tile-label">Devices</div>
        <div className="tile-value" data-testid="device-total">
          {total.toLocaleString('en-US')}
        </div>
      </div>
      {STATUSES.map((s) => (
        <StatusTile key={s} status={s} count={counts[s]} total={total} />
      ))}
      <div className="summary-tile summary-hottest">
        <div className="tile-label">
          <ThermometerIcon size={12} /> Hottest device
        </div>
        {hottest ? (
          <a
            className="hottest"
            href={hrefFor({ page: 'device', deviceId: hottest.id })}
            title={`limit ${hottest.limits.tempLimitC} °C`}
          >
            <span className={`tile-value level-${levelAgainst(hottest.tempC, hottest.limits.tempLimitC)}`}>
              {formatTemp(hottest.tempC)}
            </span>
            <span className="hottest-name">{hottest.name}</span>
          </a>
        ) : (
          <div className="tile-value muted">—</div>
        )}
      </div>
    </div>
  );
}

function StatusTile({ status, count, total }: { status: DeviceStatus; count: number; total: number }) {
  const pct = total > 0 ? (count / total) * 100 : 0;
  return (
    <div className={`summary-tile tile-${status}`} data-testid={`count-${status}`}>
      <div className="tile-label">
        <span className={`status-dot dot-${status}`} aria-hidden="true" />
        {STATUS_LABEL[status]}
      </div>
      <div className="tile-value">{count.toLocaleString('en-US')}</div>
      <div className="tile-bar" aria-hidden="true">
        <span className={`tile-bar-fill fill-${status}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
