import { ConnectionIndicator } from './components/ConnectionIndicator.js';
import { LogoIcon } from './components/Icons.js';
import { hrefFor, useRoute } from './lib/router.js';
import { DevicePage } from './pages/DevicePage.js';
import { FleetPage } from './pages/FleetPage.js';
import { NotFoundPage } from './pages/NotFoundPage.js';
import { FleetProvider } from './state/fleet.js';

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
            <DevicePage key={route.deviceId} deviceId={route.deviceId} />
          ) : (
            <NotFoundPage path={route.path} />
          )}
        </main>
      </div>
    </FleetProvider>
  );
}
