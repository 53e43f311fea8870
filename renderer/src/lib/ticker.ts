import { useSyncExternalStore } from 'react';

/**
 * One shared 1 s clock for relative times ("12 s ago"). Only the components that show a relative
 * time re-render on a tick, and the timer runs only while one is mounted.
 */
const listeners = new Set<() => void>();
let nowTs = Date.now();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  if (timer === null) {
    nowTs = Date.now();
    timer = setInterval(() => {
      nowTs = Date.now();
      for (const l of listeners) l();
    }, 1000);
  }
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}

export function useNow(): number {
  return useSyncExternalStore(subscribe, () => nowTs);
}
