import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of this module: dist/ inside the bundle, main/core/ when run from source (vitest, tsx). */
function hereDir(): string {
  return typeof __dirname !== 'undefined' ? __dirname : dirname(fileURLToPath(import.meta.url));
}

/** The built output folder (bundles, workers, renderer), whether we run from dist/ or from source. */
export function distDir(): string {
  const here = hereDir();
  if (basename(here) === 'dist') return here;
  // From source: <repo>/main/core -> <repo>/dist
  let dir = here;
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist');
    dir = dirname(dir);
  }
  return resolve(here, '..', '..', 'dist');
}

/** Where the fleet log and keys live: $EDGE_CONSOLE_DATA_DIR, else the platform's per-user data folder. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGE_CONSOLE_DATA_DIR) return resolve(env.EDGE_CONSOLE_DATA_DIR);
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'EdgeConsole');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'EdgeConsole');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'edge-console');
}

export function fleetDbPath(dataDir: string): string {
  return join(dataDir, 'fleet.db');
}

/** The console's keys (the artifact signing key): owner-only permissions. */
export function keysDir(dataDir: string): string {
  return join(dataDir, 'keys');
}
