import { CommanderError } from 'commander';
import { ConfigFile, configPath } from './config-file.js';
import { buildProgram } from './commands.js';
import { GatewayCallError } from './gateway-client.js';
import { interactive } from './interactive.js';
import { terminalSafe } from './terminal-text.js';
import { ShellError, Workspace } from './workspace.js';

/**
 * gws: one command and exit (`gws ls -l /gateway/home`), or, with no command, an interactive prompt.
 * Exit codes: 0 done, 1 the gateway or a file said no, 2 the command line was wrong.
 */
export async function run(argv: string[]): Promise<number> {
  const ws = await Workspace.open(new ConfigFile(configPath()));
  if (argv.filter((a) => !a.startsWith('-')).length === 0 && !argv.some((a) => a === '-h' || a === '--help' || a === '-V')) {
    return interactive(ws, runLine);
  }
  return runLine(ws, argv, { interactive: process.stdin.isTTY === true });
}

/** One command line; the error, if any, as one line on stderr. */
export async function runLine(ws: Workspace, args: string[], opts: { interactive: boolean }): Promise<number> {
  // Every line may hold names or messages from a gateway: nothing in them reaches the terminal as a command.
  const fail = (line: string) => process.stderr.write(`gws: ${terminalSafe(line)}\n`);
  const program = buildProgram(ws, {
    out: (line) => process.stdout.write(`${terminalSafe(line)}\n`),
    warn: (line) => fail(`warning: ${line}`),
    interactive: opts.interactive,
  });
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed the usage problem
    if (err instanceof ShellError || err instanceof GatewayCallError) {
      fail(err.message);
      return 1;
    }
    if ((err as Error).name === 'ExitPromptError') return 130; // Ctrl-C at a prompt
    const e = err as NodeJS.ErrnoException;
    if (e.code && e.path) {
      fail(`${e.path}: ${e.code === 'ENOENT' ? 'no such local file or folder' : e.message}`);
      return 1;
    }
    fail(e.message ?? String(err));
    return 1;
  }
}
