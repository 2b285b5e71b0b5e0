#!/usr/bin/env node
/**
 * `token-refresh` command-line entry. Usage errors (unknown flag, bad value) print one line on
 * stderr and exit 2; `--help`/`--version` exit 0; any other failure prints one line and exits 1.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerMarketCommand } from './market-command.js';
import { registerServiceCommands } from './service-commands.js';
import { registerDataCommands } from './data-commands.js';
import { registerSimulateCommand } from './simulate-command.js';
import { UsageError } from './util.js';
import { ConfigError } from '../config.js';

export function buildProgram(): Command {
  const program = new Command('token-refresh');
  program
    .description('Budget-optimal token price refresh scheduler for Solana apps (Jupiter Price API v3)')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerServiceCommands(program);
  registerDataCommands(program);
  registerSimulateCommand(program);
  registerMarketCommand(program);
  return program;
}

export async function runCli(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the help/version (exitCode 0) or its one-line reason (usage: 2).
      return err.exitCode === 0 ? 0 : 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`token-refresh: ${message.split('\n')[0]}\n`);
    // Bad input (a flag value, a configuration variable, an import row) is a usage error: 2.
    if (err instanceof UsageError || err instanceof ConfigError || isInputError(err)) return 2;
    return 1;
  }
}

function isInputError(err: unknown): boolean {
  const name = err instanceof Error ? err.name : '';
  return name === 'ImportError' || name === 'TokenValidationError' || name === 'UnsafeBindingError';
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  runCli().then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    () => process.exit(1),
  );
}
