import { useApi, useConnectionState } from '../api/context.js';

const LABEL = { open: 'Live', connecting: 'Connecting…', closed: 'Offline — retrying' } as const;

/** Whether live updates are flowing. Electron's IPC is always "Live". */
export function ConnectionIndicator() {
  const state = useConnectionState();
  const api = useApi();
  const title =
    state === 'open'
      ? `Receiving live updates over ${api.transport === 'http' ? 'WebSocket' : 'IPC'}.`
      : state === 'connecting'
        ? 'Opening the live-update connection.'
        : 'The live-update connection dropped; data on screen may be stale. Reconnecting with backoff.';
  return (
    <span className={`conn conn-${state}`} title={title} data-connection={state}>
      <span className="conn-dot" aria-hidden="true" />
      {LABEL[state]}
    </span>
  );
}
