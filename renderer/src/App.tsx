import { lazy, Suspense } from 'react';
import { ConnectionIndicator } from './components/ConnectionIndicator.js';
import { LogoIcon } from './components/Icons.js';
import { hrefFor, useRoute, type Route } from './lib/router.js';
import { FleetPage } from './pages/FleetPage.js';
import { NotFoundPage } from './pages/NotFoundPage.js';
import { FleetProvider } from './state/fleet.js';

// The Device page (and uPlot with it) loads on first use: the Fleet page, the landing page, starts sooner.
const DevicePage = lazy(() => import('./pages/DevicePage.js').then((m) => ({ default: m.DevicePage })));
// So does the Builds page.
const BuildsPage = lazy(() => import('./pages/BuildsPage.js').then((m) => ({ default: m.BuildsPage })));

/** `#/builds` and `#/builds/<id>` (the router answers them as not-found paths; they are matched here). */
function buildsRoute(route: Route): { buildId: string | null } | null {
  if (route.page !== 'not-found') return null;
  const m = /^\/builds(?:\/([^/]+))?\/?$/.exec(route.path);
  if (!m) return null;
  try {
    return { buildId: m[1] ? decodeURIComponent(m[1]) : null };
  } catch {
    return null;
  }
}

/** The shell: top bar and the routed page. Everything below talks to the core through useApi(). */
export function App() {
  const route = useRoute();
  const builds = buildsRoute(route);
  return (
    <FleetProvider>
      <div className="app">
        <header className="topbar">
          <a className="brand" href={hrefFor({ page: 'fleet' })}>
            <LogoIcon /> Edge Console
          </a>
          <nav className="nav">
            <a
              className={`nav-link${route.page === 'fleet' || route.page === 'device' ? ' active' : ''}`}
              href={hrefFor({ page: 'fleet' })}
            >
              Fleet
            </a>
            <a className={`nav-link${builds ? ' active' : ''}`} href="#/builds">
              Builds
            </a>
          </nav>
          <div className="topbar-right">
            <ConnectionIndicator />
          </div>
        </header>
        <main className="main">
          {route.page === 'fleet' ? (
            <FleetPage />
          ) : route.page === 'device' ? (
            <Suspense fallback={<div className="center-state muted">Loading…</div>}>
              <DevicePage key={route.deviceId} deviceId={route.deviceId} />
            </Suspense>
          ) : builds ? (
            <Suspense fallback={<div className="center-state muted">Loading…</div>}>
              <BuildsPage buildId={builds.buildId} />
            </Suspense>
          ) : (
            <NotFoundPage path={route.path} />
          )}
        </main>
      </div>
    </FleetProvider>
  );
}
