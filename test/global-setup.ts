import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Tests that spawn the CLI or the fleet-log worker need dist/; `npm test` builds it, a bare `vitest` may not have. */
export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  const worker = join(root, 'dist', 'fleetlog.worker.cjs');
  const cli = join(root, 'dist', 'edgectl.cjs');
  const fresh = (f: string) => existsSync(f) && Date.now() - statSync(f).mtimeMs < 24 * 3600_000;
  if (!fresh(worker) || !fresh(cli) || !existsSync(join(root, 'dist', 'renderer', 'index.html'))) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
  }
}
