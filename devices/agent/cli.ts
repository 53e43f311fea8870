import { InvalidArgumentError, Option, type Command } from 'commander';
import { AppError } from '../../shared/errors.js';
import { waitForShutdownSignal } from '../cli-action.js';
import { startAgent, type RunningAgent } from './agent.js';
import { assertUsableToken } from './auth.js';
import { defaultTokenFile, loadOrCreateTokenFile } from './token-file.js';

export interface AgentCliOptions {
  host: string;
  port: number;
  interval: number;
  deviceId?: string;
  tokenFile?: string;
}

export const DEFAULT_AGENT_PORT = 7070;

/** Integer option parser that commander reports as a usage error (exit 2), not a crash. */
export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** Adds the agent's options and help to a command (`edgectl agent` or the standalone edge-agent). */
export function addAgentOptions(cmd: Command): Command {
  return cmd
    .description(
      'Run the Edge device agent: serves identity, telemetry, a WebSocket stream and Prometheus /metrics',
    )
    .addOption(
      new Option(
        '--host <address>',
        'address to listen on; use 0.0.0.0 to accept the console over the network',
      ).default('127.0.0.1'),
    )
    .addOption(
      new Option('--port <n>', 'TCP port to listen on (0 = any free port)')
        .argParser(intArg('--port', 0, 65535))
        .default(DEFAULT_AGENT_PORT),
    )
    .addOption(
      new Option('--interval <ms>', 'sampling interval in milliseconds')
        .argParser(intArg('--interval', 100, 3_600_000))
        .default(10_000),
    )
    .addOption(new Option('--device-id <id>', 'device id reported to the console (default: the hostname)'))
    .addOption(
      new Option(
        '--token-file <path>',
        `file holding the bearer token; created (mode 0600, random) if missing (default: $EDGE_AGENT_TOKEN if set, else ${defaultTokenFile()})`,
      ),
    )
    .addHelpText(
      'after',
      `
Authentication:
  Every endpoint except /healthz needs "Authorization: Bearer <token>". The token comes from
  --token-file, or from EDGE_AGENT_TOKEN when no --token-file is given. A new token file is
  created with a random 32-byte hex token, printed once; enroll the device with it.

Examples:
  $ edge-agent --host 0.0.0.0 --token-file /etc/edge-agent/token
  $ EDGE_AGENT_TOKEN=$(openssl rand -hex 32) edgectl agent --port 7070 --interval 5000
  $ curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:7070/v1/telemetry?after=0&limit=10`,
    );
}

export async function resolveAgentToken(
  opts: Pick<AgentCliOptions, 'tokenFile'>,
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<string> {
  if (opts.tokenFile === undefined && env.EDGE_AGENT_TOKEN !== undefined && env.EDGE_AGENT_TOKEN !== '') {
    const token = env.EDGE_AGENT_TOKEN.trim();
    assertUsableToken(token);
    return token;
  }
  const path = opts.tokenFile ?? defaultTokenFile(env);
  const res = await loadOrCreateTokenFile(path);
  if (res.warning) print(`warning: ${res.warning}`);
  if (res.created) {
    print(`Created a new agent token in ${path} (mode 0600). Enroll this device with it:`);
    print(`  ${res.token}`);
  }
  return res.token;
}

/** Starts the agent from CLI options, prints where it is, and runs until SIGINT/SIGTERM. */
export async function runAgentCommand(
  opts: AgentCliOptions,
  io: { out?: (line: string) => void; env?: NodeJS.ProcessEnv; untilStopped?: () => Promise<unknown> } = {},
): Promise<void> {
  const out = io.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const token = await resolveAgentToken(opts, io.env ?? process.env, out);
  let agent: RunningAgent;
  try {
    agent = await startAgent({
      token,
      host: opts.host,
      port: opts.port,
      intervalMs: opts.interval,
      ...(opts.deviceId === undefined ? {} : { deviceId: opts.deviceId }),
    });
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError(
      'ENVIRONMENT',
      `agent failed to start: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const id = agent.identity;
  out(`Edge agent ${id.agentVersion} listening on ${agent.url}`);
  out(`  device ${id.deviceId}: ${id.hardwareModel}, ${id.os}, ${id.arch}, accelerator ${id.accelerator}`);
  out(`  sampling every ${opts.interval} ms; boot ${id.bootId}`);
  if (opts.host === '127.0.0.1' || opts.host === 'localhost') {
    out('  (loopback only: pass --host 0.0.0.0 so the console can reach it over the network)');
  }
  out('Press Ctrl-C to stop.');
  await (io.untilStopped ?? waitForShutdownSignal)();
  out('Stopping agent ...');
  await agent.close();
}
