import { useCallback, useEffect, useState } from 'react';
import type { FleetEvent } from '../../../shared/fleet.js';
import { useApi, useApiEvent } from '../api/context.js';
import { formatDateTime } from '../lib/format.js';
import { ErrorNotice } from './ErrorNotice.js';
import { ErrorIcon, InfoIcon, WarningIcon } from './Icons.js';

const PAGE = 50;

function SeverityIcon({ severity }: { severity: FleetEvent['severity'] }) {
  const label = severity === 'error' ? 'Error' : severity === 'warning' ? 'Warning' : 'Info';
  return (
    <span className={`sev sev-${severity}`} title={label} aria-label={label}>
      {severity === 'error' ? <ErrorIcon /> : severity === 'warning' ? <WarningIcon /> : <InfoIcon />}
    </span>
  );
}

/** A device's event log, newest first: live events prepend, "Load older" pages back by id. */
export function EventLog({ deviceId }: { deviceId: string }) {
  const api = useApi();
  const [events, setEvents] = useState<FleetEvent[]>([]);
  const [state, setState] = useState<{ loading: boolean; error: unknown; exhausted: boolean }>({
    loading: true,
    error: null,
    exhausted: false,
  });

  const fetchPage = useCallback(
    (beforeId: number | undefined, signal?: AbortSignal) =>
      api.call(
        'fleet.events',
        beforeId === undefined ? { deviceId, limit: PAGE } : { deviceId, limit: PAGE, beforeId },
        { signal },
      ),
    [api, deviceId],
  );
  const settle = useCallback(
    (p: Promise<{ events: FleetEvent[] }>, append: boolean, signal?: AbortSignal) =>
      p.then(
        (res) => {
          if (signal?.aborted) return;
          setEvents((cur) => {
            const merged = append ? [...cur, ...res.events] : res.events;
            const seen = new Set<number>();
            return merged.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
          });
          setState({ loading: false, error: null, exhausted: res.events.length < PAGE });
        },
        (error: unknown) => {
          if (!signal?.aborted) setState((s) => ({ ...s, loading: false, error }));
        },
      ),
    [],
  );
  const load = (beforeId: number | undefined) => {
    setState((s) => ({ ...s, loading: true, error: null }));
    void settle(fetchPage(beforeId), beforeId !== undefined);
  };

  useEffect(() => {
    const ctl = new AbortController();
    void settle(fetchPage(undefined, ctl.signal), false, ctl.signal);
    return () => ctl.abort();
  }, [fetchPage, settle]);

  useApiEvent('fleet.event', (e) => {
    if (e.deviceId === deviceId) setEvents((cur) => (cur.some((x) => x.id === e.id) ? cur : [e, ...cur]));
  });

  const oldest = events[events.length - 1];
  return (
    <section className="panel events-panel" aria-label="Events">
      <div className="panel-head">
        <h2>Events</h2>
        <span className="panel-note">{events.length > 0 ? `${events.length} shown, newest first` : ''}</span>
      </div>
      {state.error !== null && events.length === 0 ? (
        <ErrorNotice
          error={state.error}
          title="Could not load events"
          onRetry={() => load(undefined)}
          compact
        />
      ) : events.length === 0 && state.loading ? (
        <div className="events-empty muted">Loading events…</div>
      ) : events.length === 0 ? (
        <div className="events-empty muted">No events recorded for this device.</div>
      ) : (
        <ol className="events" data-event-count={events.length}>
          {events.map((e) => (
            <li key={e.id} className={`event event-${e.severity}`} data-event-id={e.id}>
              <SeverityIcon severity={e.severity} />
              <time className="event-time mono" dateTime={new Date(e.ts).toISOString()}>
                {formatDateTime(e.ts)}
              </time>
              <span className="event-kind">{e.kind}</span>
              <span className="event-msg">{e.message}</span>
            </li>
          ))}
        </ol>
      )}
      {events.length > 0 && (
        <div className="events-foot">
          {state.error !== null && (
            <ErrorNotice error={state.error} title="Could not load older events" compact />
          )}
          {state.exhausted ? (
            <span className="muted">Beginning of the log</span>
          ) : (
            <button type="button" className="btn" disabled={state.loading} onClick={() => load(oldest?.id)}>
              {state.loading ? 'Loading…' : 'Load older'}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
