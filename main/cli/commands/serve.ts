import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { dispatch } from '../../core/dispatcher.js';
import { createCore } from '../../core/app.js';
import { seedDemoFleet } from '../../core/demo-seed.js';
import { defaultDataDir, distDir, fleetDbPath } from '../../core/paths.js';
import { openFleetLog } from '../../fleetlog/client.js';
import { startHttpServer } from '../../http/server.js';
import { AppError } from '../../../shared/errors.js';
import { parseIntOption, runAction } from '../errors.js';

export interface ServeOptions {
  dataDir: string;
  port: number;
  simulate?: number;
  simInterval: number;
  enroll?: string;
  seedDemoDevices?: number;
  pollInterval: number;
  collect: 'pull' | 'stream';
  token?: string;
}

const EnrollFile = z.array(z.object({ url: z.string(), token: z.string(), name: z.string().optional() }));

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** Browser mode: core + fleet log worker + collector + loopback HTTP/WebSocket server. */
export async function serve(opts: ServeOptions): Promise<{ close(): Promise<void>; openUrl: string }> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const store = await openFleetLog({ dbPath: fleetDbPath(opts.dataDir) });
  if (opts.seedDemoDevices) {
    log(`Seeding ${opts.seedDemoDevices} demo devices into ${opts.dataDir} ...`);
    await seedDemoFleet(store, {
      devices: opts.seedDemoDevices,
      onProgress: (d, t) => log(`  seeded ${d}/${t}`),
    });
  }
  const core = await createCore({
    store,
    dataDir: opts.dataDir,
    transport: 'http',
    collector: { pollIntervalMs: opts.pollInterval, mode: opts.collect },
    log: process.env.EDGECTL_DEBUG ? log : undefined,
  });
  const closers: (() => Promise<void>)[] = [];
  const enroll = async (entries: z.infer<typeof EnrollFile>) => {
    let ok = 0;
    for (const e of entries) {
      const res = await dispatch(core.handlers, 'fleet.enroll', e, { transport: 'cli' });
      if (res.ok) ok++;
      else log(`  could not enroll ${e.url}: ${res.error.message}`);
      if ((ok + 1) % 50 === 0) log(`  enrolled ${ok}/${entries.length}`);
    }
    log(`Enrolled ${ok}/${entries.length} agents.`);
  };
  if (opts.simulate) {
    const { startSimulatedFleet } = await import('../../../devices/sim/fleet.js');
    log(`Starting ${opts.simulate} simulated agents ...`);
    const fleet = await startSimulatedFleet({ devices: opts.simulate, intervalMs: opts.simInterval });
    closers.push(() => fleet.close());
    await enroll(fleet.enrollment);
  }
  if (opts.enroll) {
    let entries: z.infer<typeof EnrollFile>;
    try {
      entries = EnrollFile.parse(JSON.parse(readFileSync(opts.enroll, 'utf8')));
    } catch (err) {
      throw new AppError(
        'BAD_INPUT',
        `Enrollment file ${opts.enroll} is not a JSON array of {url, token}: ${String(err)}`,
      );
    }
    await enroll(entries);
  }
  const http = await startHttpServer({
    handlers: core.handlers,
    bus: core.bus,
    staticDir: join(distDir(), 'renderer'),
    port: opts.port,
    ...(opts.token ? { token: opts.token } : {}),
  });
  return {
    openUrl: http.openUrl,
    async close() {
      await http.close();
      await core.close();
      for (const c of closers) await c();
    },
  };
}

export function addServeOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'where the fleet log and keys live', defaultDataDir())
    .option('--port <port>', 'loopback port (0 = random)', parseIntOption('--port', 0, 65535), 0)
    .option(
      '--simulate <n>',
      'also run N simulated device agents and enroll them',
      parseIntOption('--simulate', 1, 5000),
    )
    .option(
      '--sim-interval <ms>',
      'sampling interval of simulated agents',
      parseIntOption('--sim-interval', 50, 600_000),
      2000,
    )
    .option(
      '--enroll <file>',
      'enroll the agents listed in this JSON file (as written by `edgectl simulate --enroll-file`)',
    )
    .addOption(
      new Option(
        '--collect <mode>',
        'pull: poll agents; stream: hold their push streams open, polls fill gaps',
      )
        .choices(['pull', 'stream'])
        .default('stream'),
    )
    .option(
      '--poll-interval <ms>',
      'how often the collector polls each agent',
      parseIntOption('--poll-interval', 100, 3_600_000),
      5000,
    )
    .option(
      '--seed-demo-devices <n>',
      'write N recorded-looking demo devices into the fleet log first',
      parseIntOption('--seed-demo-devices', 1, 100_000),
    );
}

export async function serveUntilSignal(opts: ServeOptions): Promise<void> {
  const running = await serve(opts);
  process.stdout.write(`Edge Console: ${running.openUrl}\n`);
  process.stderr.write(
    'Open that URL in a browser (the token in it is valid until this process stops). Ctrl-C to stop.\n',
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.stderr.write('Stopping ...\n');
      void running.close().finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerServeCommand(program: Command): void {
  addServeOptions(
    program
      .command('serve')
      .description('run the console in browser mode: a loopback web server with a per-launch token'),
  ).action(runAction(async (o: ServeOptions) => serveUntilSignal(o)));
}
