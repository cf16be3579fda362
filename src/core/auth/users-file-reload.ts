import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from '../../log.js';

/**
 * Re-reads an operator's file (the users file, the mounts file) when it changes (checked every
 * `intervalSec`, by polling, which also sees a Kubernetes ConfigMap's symlink swap) or when asked
 * (SIGHUP). `apply` reads and applies it, saying what to log; a file that no longer reads or validates
 * is refused with an error in the log, and what it configures stays as it was.
 */
export function reloadOnChange(
  file: string,
  apply: () => Promise<{ message: string; fields: Record<string, unknown> }>,
  opts: { intervalSec: number; logger: Logger; what: string },
): { reload: () => Promise<void>; stop: () => void } {
  let running = Promise.resolve();
  const reload = () => {
    // One re-read at a time, in order: the last change read wins.
    running = running.then(async () => {
      try {
        const done = await apply();
        opts.logger.info(`${opts.what} re-read; ${done.message}`, done.fields);
      } catch (err) {
        opts.logger.error(`${opts.what} not re-read; it stays as it was`, { error: (err as Error).message });
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
