import { Command, CommanderError } from 'commander';
import { runDeviceAction } from '../cli-action.js';
import { addAgentOptions, runAgentCommand, type AgentCliOptions } from './cli.js';
import { AGENT_VERSION } from './version.js';

/**
 * edge-agent: the standalone program installed on a device (bundled to dist/edge-agent.cjs).
 * Same options as `edgectl agent`.
 */
const program = addAgentOptions(new Command('edge-agent'))
  .version(AGENT_VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .action(runDeviceAction('edge-agent', (opts: AgentCliOptions) => runAgentCommand(opts)));

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and version exit 0; usage errors are bad input (2), as in edgectl.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  process.stderr.write(`edge-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
