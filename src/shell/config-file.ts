import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { writePrivateFile } from './local-files.js';

/** A gateway the shell is signed in to, under /gateway/<name>. */
export interface Mount {
  url: string;
  accessToken: string;
  /** Absent when the gateway gives none: then the mount works until its access token expires. */
  refreshToken?: string | undefined;
  rootId: string;
  segmentSize?: number | undefined;
}

export interface ShellState {
  mounts: Record<string, Mount>;
  /** The working folder, kept between one-shot commands as a shell session would. */
  cwd: string;
}

/**
 * The per-user file: GWS_CONFIG, else gws/config.json in the platform's configuration folder
 * (%APPDATA% on Windows, ~/Library/Application Support on macOS, $XDG_CONFIG_HOME or ~/.config elsewhere).
 */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GWS_CONFIG) return path.resolve(env.GWS_CONFIG);
  const base =
    process.platform === 'win32'
      ? (env.APPDATA ?? path.join(homedir(), 'AppData', 'Roaming'))
      : process.platform === 'darwin'
        ? path.join(homedir(), 'Library', 'Application Support')
        : (env.XDG_CONFIG_HOME ?? path.join(homedir(), '.config'));
  return path.join(base, 'gws', 'config.json');
}

export class ConfigFile {
  constructor(readonly file: string) {}

  /** Where resumable uploads keep their state, next to the configuration. */
  get uploadsDir(): string {
    return path.join(path.dirname(this.file), 'uploads');
  }

  /** Where interrupted downloads keep what they need to resume (their partial file's name), next to the configuration. */
  get downloadsDir(): string {
    return path.join(path.dirname(this.file), 'downloads');
  }

  async read(): Promise<ShellState> {
    let raw: string;
    try {
      raw = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { mounts: {}, cwd: '/gateway' };
      throw err;
    }
    try {
      const parsed = JSON.parse(raw) as Partial<ShellState>;
      return { mounts: parsed.mounts ?? {}, cwd: typeof parsed.cwd === 'string' ? parsed.cwd : '/gateway' };
    } catch {
      throw new Error(`${this.file} is not valid JSON; fix or delete it`);
    }
  }

  /**
   * Runs `fn` while holding the file's lock (a `.lock` file made exclusively), so that processes of the
   * shell take turns; a lock older than `staleMs` was left by a process that died and is taken over.
   */
  private async withLock<T>(fn: () => Promise<T>, opts: { waitMs?: number; staleMs?: number } = {}): Promise<T> {
    const lock = `${this.file}.lock`;
    const until = Date.now() + (opts.waitMs ?? 30_000);
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    for (;;) {
      try {
        await (await open(lock, 'wx', 0o600)).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > (opts.staleMs ?? 60_000)) await rm(lock, { force: true });
        else if (Date.now() > until) throw new Error(`${lock} is held by another gws; remove it if no gws is running`, { cause: err });
        else await new Promise((r) => setTimeout(r, 50));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { force: true });
    }
  }

  /**
   * Reads, changes and writes the file under its lock, so concurrent commands never undo each other's
   * changes (`change` may call the gateway: a token refresh happens inside). Tokens are in it: readable by
   * its owner only, and written whole or not at all.
   */
  async update(change: (state: ShellState) => void | Promise<void>): Promise<ShellState> {
    return this.withLock(async () => {
      const state = await this.read();
      await change(state);
      await writePrivateFile(this.file, `${JSON.stringify(state, null, 2)}\n`);
      return state;
    });
  }
}
