import type { DeviceStatus } from '../../../shared/fleet.js';

export const STATUS_LABEL: Record<DeviceStatus, string> = {
  healthy: 'Healthy',
  degraded: 'Degraded',
  unreachable: 'Unreachable',
  unknown: 'Unknown',
};

/** A status pill. Reasons show on hover (title) unless the caller renders its own popover. */
export function StatusBadge({
  status,
  reasons,
  withTitle = true,
}: {
  status: DeviceStatus;
  reasons?: readonly string[];
  withTitle?: boolean;
}) {
  const title = withTitle && reasons && reasons.length > 0 ? reasons.join('\n') : undefined;
  return (
    <span className={`status-badge status-${status}`} title={title} data-status={status}>
      <span className="status-dot" aria-hidden="true" />
      {STATUS_LABEL[status]}
    </span>
  );
}
