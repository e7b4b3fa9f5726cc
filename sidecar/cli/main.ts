import { Command, CommanderError } from 'commander';
import { CliError } from '../errors.js';
import { servicesCommand } from './services.js';
import { doctorCommand } from './doctor-command.js';
import { kvCommand } from './kv-command.js';
import { leaseCommand } from './lease-command.js';
import { prefetchCommand } from './prefetch-command.js';
import { sidecarCommand } from './sidecar-command.js';
import { statusCommand } from './status.js';

/** Builds the `fastreg` command tree. Each subcommand lives in its own file and registers itself here. */
export function buildProgram(): Command {
  const program = new Command('fastreg')
    .description('FastReg: a pull-through mirror for Docker/OCI registries, with peer-to-peer sidecars on build machines.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.addCommand(servicesCommand());
  program.addCommand(sidecarCommand());
  program.addCommand(kvCommand());
  program.addCommand(leaseCommand());
  program.addCommand(statusCommand());
  program.addCommand(prefetchCommand());
  program.addCommand(doctorCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`fastreg: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`fastreg: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
