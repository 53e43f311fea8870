import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import type { DeviceRow } from '../../../shared/fleet.js';
import { useApi, useApiEvent } from '../api/context.js';
import { EMPTY_FLEET, fromList, mergeUpdates, type FleetRows } from '../lib/fleetRows.js';
import { SparklineStore } from '../lib/sparklines.js';

export interface FleetState {
  fleet: FleetRows;
  loaded: boolean;
  loading: boolean;
  error: unknown;
  reload: () => void;
  sparklines: SparklineStore;
}

const FleetContext = createContext<FleetState | null>(null);

/**
 * The fleet as the UI knows it: one 'fleet.list' snapshot, kept current by 'fleet.updated'.
 * It lives above the router so going to a device and back is instant and keeps the table's place.
 * Updates that arrive while the snapshot loads are held and merged after it (older ones dropped);
 * after a reconnect the snapshot is reloaded, since updates may have been missed.
 */
export function FleetProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const [fleet, setFleet] = useState<FleetRows>(EMPTY_FLEET);
  const [status, setStatus] = useState<{ loaded: boolean; loading: boolean; error: unknown }>({
    loaded: false,
    loading: true,
    error: null,
  });
  const [nonce, setNonce] = useState(0);
  const held = useRef<{ devices: DeviceRow[]; asOfTs: number }[] | null>([]);

  useEffect(() => {
    const ctl = new AbortController();
    held.current ??= [];
    performance.mark('fleet-list-start');
    api.call('fleet.list', {}, { signal: ctl.signal }).then(
      (res) => {
        if (ctl.signal.aborted) return;
        performance.mark('fleet-list-loaded');
        let next = fromList(res.devices, res.asOfTs);
        for (const u of held.current ?? []) next = mergeUpdates(next, u.devices, u.asOfTs);
        held.current = null;
        setFleet(next);
        setStatus({ loaded: true, loading: false, error: null });
      },
      (error: unknown) => {
        if (ctl.signal.aborted) return;
        held.current = null;
        setStatus((s) => ({ loaded: s.loaded, loading: false, error }));
      },
    );
    return () => ctl.abort();
  }, [api, nonce]);

  useApiEvent('fleet.updated', (p) => {
    if (held.current) held.current.push(p);
    else setFleet((f) => mergeUpdates(f, p.devices, p.asOfTs));
  });

  const reload = useCallback(() => {
    setStatus((s) => ({ ...s, loading: true }));
    setNonce((n) => n + 1);
  }, []);

  // Reload after the live connection comes back: updates sent while it was down are lost.
  useEffect(() => {
    let wasClosed = false;
    return api.onConnection((state) => {
      if (state === 'closed') wasClosed = true;
      if (state === 'open' && wasClosed) {
        wasClosed = false;
        reload();
      }
    });
  }, [api, reload]);

  const sparklines = useMemo(
    () =>
      new SparklineStore(async (deviceIds, metric) => {
        const res = await api.call('fleet.sparklines', { deviceIds, metric, minutes: 60 });
        return { fromTs: res.fromTs, stepMs: res.stepMs, series: res.series };
      }),
    [api],
  );

  const value = useMemo<FleetState>(
    () => ({ fleet, ...status, reload, sparklines }),
    [fleet, status, reload, sparklines],
  );
  return <FleetContext.Provider value={value}>{children}</FleetContext.Provider>;
}

export function useFleet(): FleetState {
  const v = useContext(FleetContext);
  if (!v) throw new Error('useFleet() needs <FleetProvider> above it in the tree.');
  return v;
}
