import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

/** A gateway the shell is signed in to, under /gateway/<name>. */
export interface Mount {
  url: string;
  accessToken: string;
  refreshToken: string;
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

  /** Reads, changes and writes the file (tokens in it: readable by its owner only, written whole or not at all). */
  async update(change: (state: ShellState) => void): Promise<ShellState> {
    const state = await this.read();
    change(state);
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await chmod(temp, 0o600); // the mode of writeFile is masked by umask
    await rename(temp, this.file);
    return state;
  }
}
