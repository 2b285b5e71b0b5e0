#!/usr/bin/env node
/**
 * `token-refresh` command-line entry. Usage errors (unknown flag, bad value) print one line on
 * stderr and exit 2; `--help`/`--version` exit 0; any other failure prints one line and exits 1.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerMarketCommand } from './market-command.js';

export function buildProgram(): Command {
  const program = new Command('token-refresh');
  program
    .description('Budget-optimal token price refresh scheduler for Solana apps (Jupiter Price API v3)')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
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
    return 1;
  }
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
