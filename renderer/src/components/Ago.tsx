import { formatAgo, formatDateTime } from '../lib/format.js';
import { useNow } from '../lib/ticker.js';

/** A relative time that ticks; the exact time is on hover. */
export function Ago({ ts, staleAfterMs }: { ts: number | null; staleAfterMs?: number }) {
  const now = useNow();
  const stale = ts !== null && staleAfterMs !== undefined && now - ts > staleAfterMs;
  return (
    <span
      className={`ago${stale ? ' stale' : ''}${ts === null ? ' muted' : ''}`}
      title={ts === null ? undefined : formatDateTime(ts)}
    >
      {formatAgo(ts, now)}
    </span>
  );
}
