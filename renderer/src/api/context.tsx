import {
  createContext,
  useContext,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import type { EventName, EventPayload } from '../../../shared/contract.js';
import type { ApiClient, ConnectionState } from './client.js';

const ApiContext = createContext<ApiClient | null>(null);

export function ApiProvider({ client, children }: { client: ApiClient; children: ReactNode }) {
  return <ApiContext.Provider value={client}>{children}</ApiContext.Provider>;
}

/** The one way components reach the core. Throws when no provider is mounted, rather than failing later. */
export function useApi(): ApiClient {
  const client = useContext(ApiContext);
  if (!client) throw new Error('useApi() needs <ApiProvider> above it in the tree.');
  return client;
}

/** Subscribes for the component's lifetime; the listener may change without resubscribing. */
export function useApiEvent<E extends EventName>(
  event: E,
  listener: (payload: EventPayload<E>) => void,
): void {
  const api = useApi();
  const ref = useRef(listener);
  useLayoutEffect(() => {
    ref.current = listener;
  });
  useEffect(() => api.on(event, (p) => ref.current(p)), [api, event]);
}

export function useConnectionState(): ConnectionState {
  const api = useApi();
  const [state, setState] = useState<ConnectionState>('connecting');
  useEffect(() => api.onConnection(setState), [api]);
  return state;
}
