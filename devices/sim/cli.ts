import { rename, writeFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { waitForShutdownSignal } from '../cli-action.js';
import { intArg } from '../agent/cli.js';
import {
  DEFAULT_DISCONNECT_PROBABILITY,
  MAX_SIM_DEVICES,
  startSimulatedFleet,
  type EnrollmentEntry,
} from './fleet.js';

export interface SimulateCliOptions {
  devices: number;
  interval: number;
  seed: number;
  enrollFile?: string;
  host: string;
  basePort: number;
  disconnectProbability: number;
}

function probabilityArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number from 0 to 1.');
  return n;
}

export function addSimulateOptions(cmd: Command): Command {
  return cmd
    .description('Run a simulated fleet of real agents on loopback (for demos, load tests and development)')
    .addOption(
      new Option('--devices <n>', 'number of simulated devices')
        .argParser(intArg('--devices', 1, MAX_SIM_DEVICES))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--interval <ms>', 'sampling interval per device in milliseconds')
        .argParser(intArg('--interval', 50, 3_600_000))
        .default(10_000),
    )
    .addOption(
      new Option('--seed <n>', 'random seed: the same seed gives the same fleet')
        .argParser(intArg('--seed', 0, 2 ** 32 - 1))
        .default(1),
    )
    .addOption(
      new Option(
        '--enroll-file <path>',
        'write [{url, token, name}] here (mode 0600) for `edgectl serve --enroll <file>`',
      ),
    )
    .addOption(new Option('--host <address>', 'address the agents listen on').default('127.0.0.1'))
    .addOption(
      new Option('--base-port <n>', 'device i listens on base-port + i (0 = free ports)')
        .argParser(intArg('--base-port', 0, 65535))
        .default(0),
    )
    .addOption(
      new Option(
        '--disconnect-probability <p>',
        'chance per device per interval of a simulated network outage',
      )
        .argParser(probabilityArg)
        .default(DEFAULT_DISCONNECT_PROBABILITY),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ edgectl simulate --devices 50 --interval 2000 --enroll-file /tmp/sim.json
  $ edgectl serve --enroll /tmp/sim.json`,
    );
}

/** Writes via a temp file and rename so a reader never sees half a file, and tokens are never world-readable. */
export async function writeEnrollFile(path: string, entries: EnrollmentEntry[]): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function runSimulateCommand(
  opts: SimulateCliOptions,
  io: {
    out?: (line: string) => void;
    err?: (line: string) => void;
    untilStopped?: () => Promise<unknown>;
  } = {},
): Promise<void> {
  const out = io.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  err(`Starting ${opts.devices} simulated agents (seed ${opts.seed}, every ${opts.interval} ms) ...`);
  const fleet = await startSimulatedFleet({
    devices: opts.devices,
    intervalMs: opts.interval,
    seed: opts.seed,
    host: opts.host,
    basePort: opts.basePort,
    disconnectProbability: opts.disconnectProbability,
    onProgress: (done, total) => err(`  started ${done}/${total}`),
    log: (m) => err(`[sim] ${m}`),
  });
  try {
    if (opts.enrollFile) {
      await writeEnrollFile(opts.enrollFile, fleet.enrollment);
      err(`Wrote enrollment for ${fleet.enrollment.length} agents to ${opts.enrollFile} (mode 0600).`);
      err(`Enroll them with: edgectl serve --enroll ${opts.enrollFile}`);
    } else {
      // No file: print it, so `edgectl simulate ... > fleet.json` works too.
      out(JSON.stringify(fleet.enrollment, null, 2));
    }
    err('Simulated fleet running. Press Ctrl-C to stop.');
    await (io.untilStopped ?? waitForShutdownSignal)();
    err('Stopping simulated fleet ...');
  } finally {
    await fleet.close();
  }
}
