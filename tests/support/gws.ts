import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './processes.js';

export interface GwsResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Makes the shell take itself for running on Windows (process.platform), so that its rules for Windows
 * file names can be tried on any machine.
 */
export const AS_ON_WINDOWS = ['--import', 'data:text/javascript,Object.defineProperty(process, "platform", { value: "win32" })'];

/** One `gws` command as a process of its own (the built dist/), with its own config file and working folder. */
export function spawnGws(
  args: string[],
  opts: { cwd: string; config: string; stdin?: string; nodeArgs?: string[] },
): { child: ChildProcess; done: Promise<GwsResult> } {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(repoRoot, 'dist/shell/main.js'), ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH, GWS_CONFIG: opts.config },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.stdin ?? '');
  const done = new Promise<GwsResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}
