import type { Command } from 'commander';
import { addAgentOptions, runAgentCommand, type AgentCliOptions } from '../../../devices/agent/cli.js';
import { runAction } from '../errors.js';

/** `edgectl agent`: runs the device agent in this process (same options as the edge-agent program). */
export function registerAgentCommand(program: Command): Command {
  return addAgentOptions(program.command('agent')).action(
    runAction((opts: AgentCliOptions) => runAgentCommand(opts)),
  );
}
