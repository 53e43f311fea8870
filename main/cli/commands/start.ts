import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Command } from 'commander';
import { distDir } from '../../core/paths.js';
import { runAction } from '../errors.js';
import { addServeOptions, serveUntilSignal, type ServeOptions } from './serve.js';

/** Path of the Electron binary, or the reason there is none. Never throws. */
export function findElectron(): { path: string } | { missing: string } {
  try {
    const req = createRequire(join(process.cwd(), 'package.json'));
    const p = req('electron') as unknown;
    if (typeof p === 'string' && existsSync(p)) return { path: p };
    return { missing: 'the electron package is installed but its binary is not' };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return {
      missing: /failed to install correctly/i.test(msg)
        ? 'the electron package is installed but its binary was never downloaded'
        : 'the electron package is not installed',
    };
  }
}

export function registerStartCommand(program: Command): void {
  addServeOptions(
    program
      .command('start')
      .description('open the desktop window if the Electron binary is present, otherwise start browser mode')
      .option('--browser', 'always use browser mode'),
  ).action(
    runAction(async (o: ServeOptions & { browser?: boolean }) => {
      const electron = o.browser ? { missing: '--browser was given' } : findElectron();
      if ('path' in electron) {
        const child = spawn(
          electron.path,
          [join(distDir(), 'electron-main.cjs'), `--data-dir=${o.dataDir}`],
          {
            stdio: 'inherit',
          },
        );
        await new Promise<void>((resolve) =>
          child.on('exit', (code) => {
            process.exitCode = code ?? 0;
            resolve();
          }),
        );
        return;
      }
      process.stderr.write(
        `Electron is not available (${electron.missing}), so Edge Console runs in browser mode.\n` +
          'To get the desktop window on a machine that can download it: `npm run electron:install`, then `npm start`.\n',
      );
      await serveUntilSignal(o);
    }),
  );
}
