import { useSyncExternalStore } from 'react';

/** The app's routes. The hash keeps the renderer a static bundle that works from file:// and http. */
export type Route =
  { page: 'fleet' } | { page: 'device'; deviceId: string } | { page: 'not-found'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  if (path === '' || path === '/' || path === '/fleet') return { page: 'fleet' };
  const m = /^\/devices\/([^/]+)$/.exec(path);
  if (m?.[1]) {
    try {
      return { page: 'device', deviceId: decodeURIComponent(m[1]) };
    } catch {
      return { page: 'not-found', path };
    }
  }
  return { page: 'not-found', path };
}

export function hrefFor(route: Route): string {
  switch (route.page) {
    case 'fleet':
      return '#/fleet';
    case 'device':
      return `#/devices/${encodeURIComponent(route.deviceId)}`;
    case 'not-found':
      return `#${route.path}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = hrefFor(route);
}

function subscribe(fn: () => void): () => void {
  window.addEventListener('hashchange', fn);
  return () => window.removeEventListener('hashchange', fn);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  return parseRoute(hash);
}
