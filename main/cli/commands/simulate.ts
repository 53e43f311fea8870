import type { Command } from 'commander';
import { addSimulateOptions, runSimulateCommand, type SimulateCliOptions } from '../../../devices/sim/cli.js';
import { runAction } from '../errors.js';

/** `edgectl simulate`: a fleet of real agents with simulated sensors, until Ctrl-C. */
export function registerSimulateCommand(program: Command): Command {
  return addSimulateOptions(program.command('simulate')).action(
    runAction((opts: SimulateCliOptions) => runSimulateCommand(opts)),
  );
}
