import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { CallInput, CallName, CallOutput } from '../../../shared/contract.js';
import { useApi } from '../api/context.js';

export interface CallState<T> {
  data: T | null;
  /** The key `data` was loaded for; differs from the current key while the next one loads. */
  dataKey: string | null;
  error: unknown;
  /** True while a request is in flight, including refreshes that keep the previous data on screen. */
  loading: boolean;
  reload: () => void;
}

/**
 * Calls the API whenever `key` changes (the input's identity in a string). Previous data stays on
 * screen while the next request runs, so refreshes never blank a panel; a superseded request is
 * aborted and its answer dropped.
 */
export function useCall<K extends CallName>(
  name: K,
  input: CallInput<K> | null,
  key: string,
): CallState<CallOutput<K>> {
  const api = useApi();
  const [state, setState] = useState<{
    data: CallOutput<K> | null;
    dataKey: string | null;
    error: unknown;
    loading: boolean;
  }>({
    data: null,
    dataKey: null,
    error: null,
    loading: input !== null,
  });
  const [nonce, setNonce] = useState(0);
  const inputRef = useRef(input);
  // Runs before the fetch effect below (layout effects first), so it sees this render's input.
  useLayoutEffect(() => {
    inputRef.current = input;
  });

  useEffect(() => {
    const current = inputRef.current;
    if (current === null) return;
    const ctl = new AbortController();
    setState((s) => (s.loading ? s : { ...s, loading: true }));
    api.call(name, current, { signal: ctl.signal }).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, dataKey: key, error: null, loading: false });
      },
      (error: unknown) => {
        if (!ctl.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => ctl.abort();
  }, [api, name, key, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { ...state, reload };
}
