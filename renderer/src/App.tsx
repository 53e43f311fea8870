import { lazy, Suspense } from 'react';
import { ConnectionIndicator } from './components/ConnectionIndicator.js';
import { LogoIcon } from './components/Icons.js';
import { hrefFor, useRoute } from './lib/router.js';
import { FleetPage } from './pages/FleetPage.js';
import { NotFoundPage } from './pages/NotFoundPage.js';
import { FleetProvider } from './state/fleet.js';

// The Device page (and uPlot with it) loads on first use: the Fleet page, the landing page, starts sooner.
const DevicePage = lazy(() => import('./pages/DevicePage.js').then((m) => ({ default: m.DevicePage })));

/** The shell: top bar and the routed page. Everything below talks to the core through useApi(). */
export function App() {
  const route = useRoute();
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
          ) : (
            <NotFoundPage path={route.path} />
          )}
        </main>
      </div>
    </FleetProvider>
  );
}
