import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from '../../log.js';
import { loadAccountsFile, type AccountDirectory } from './accounts.js';

/**
 * Re-reads the users file when it changes (checked every `intervalSec`, by polling, which also sees a
 * Kubernetes ConfigMap's symlink swap) or when asked (SIGHUP). A file that no longer reads or validates
 * is refused with an error in the log, and the accounts stay as they were.
 */
export function reloadOnChange(
  file: string,
  directory: AccountDirectory,
  opts: { intervalSec: number; logger: Logger },
): { reload: () => Promise<void>; stop: () => void } {
  let running = Promise.resolve();
  const reload = () => {
    // One re-read at a time, in order: the last change read wins.
    running = running.then(async () => {
      try {
        directory.replace(await loadAccountsFile(file));
        opts.logger.info('users file re-read; sessions of changed or removed accounts end', { users: directory.size });
      } catch (err) {
        opts.logger.error('users file not re-read; the accounts stay as they were', { error: (err as Error).message });
      }
    });
    return running;
  };
  const changed = (now: Stats, before: Stats) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) void reload();
  };
  watchFile(file, { interval: opts.intervalSec * 1000, persistent: false }, changed);
  return { reload, stop: () => unwatchFile(file, changed) };
}
