import { Command, CommanderError } from 'commander';
import { APP_VERSION } from '../core/version.js';
import { registerAgentCommand } from './commands/agent.js';
import { registerFleetCommands } from './commands/fleet.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerModelCommands } from './commands/model.js';
import { registerStartCommand } from './commands/start.js';

export function buildProgram(): Command {
  const program = new Command('edgectl')
    .description('Edge Console: build, deploy and watch ML models on edge devices')
    .version(APP_VERSION)
    // Program options only before the subcommand: `edgectl build --version 1.2.0` is the artifact's version.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerStartCommand(program);
  registerServeCommand(program);
  registerFleetCommands(program);
  registerAgentCommand(program);
  registerSimulateCommand(program);
  registerModelCommands(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors are bad input (2).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
}

void main();
