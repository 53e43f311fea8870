// Builds everything the console runs: node bundles (CLI, workers, Electron main, preload, agent) with
// esbuild, and the renderer with Vite. Native modules stay external so they are loaded from
// node_modules (and rebuilt for Electron by electron-builder at packaging time).
import { build } from 'esbuild';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
mkdirSync(out, { recursive: true });
const external = [
  'electron',
  'better-sqlite3',
  'onnxruntime-node',
  'serialport',
  '@serialport/*',
  '@napi-rs/*',
  'bufferutil',
  'utf-8-validate',
];

const nodeEntries = [
  ['main/cli/edgectl.ts', 'edgectl.cjs'],
  ['main/workers/fleetlog.worker.ts', 'fleetlog.worker.cjs'],
  ['main/workers/build.worker.ts', 'build.worker.cjs'],
  ['main/electron/main.ts', 'electron-main.cjs'],
  ['main/preload/preload.ts', 'preload.cjs'],
  ['devices/agent/bin.ts', 'edge-agent.cjs'],
].filter(([src]) => existsSync(join(root, src)));

const t0 = Date.now();
await Promise.all(
  nodeEntries.map(([src, dst]) =>
    build({
      entryPoints: [join(root, src)],
      outfile: join(out, dst),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      sourcemap: true,
      external,
      logLevel: 'warning',
      // Sandboxed preloads may require only 'electron': no import.meta shim there.
      ...(dst === 'preload.cjs'
        ? {}
        : {
            define: { 'import.meta.url': 'import_meta_url' },
            banner: { js: "const import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
          }),
    }),
  ),
);
if (!process.argv.includes('--no-renderer') && existsSync(join(root, 'renderer/index.html'))) {
  const { build: viteBuild } = await import('vite');
  await viteBuild({ configFile: join(root, 'renderer/vite.config.ts'), logLevel: 'warn' });
}
console.error(
  `built ${nodeEntries.length} bundles${existsSync(join(root, 'renderer/index.html')) ? ' + renderer' : ''} in ${Date.now() - t0} ms`,
);
