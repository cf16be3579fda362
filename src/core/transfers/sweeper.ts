import type { Logger } from '../../log.js';
import type { UploadService } from './uploads.js';

/**
 * Aborts the gateway's orphaned multipart uploads at start-up and then every interval (0: start-up only).
 * A server without multipart listing (the embedded one) is reported once and not asked again.
 * `firstRun` settles when the start-up sweep is over, so it is done (and logged) before the gateway serves.
 */
export function startUploadSweeper(uploads: UploadService, intervalSec: number, logger: Logger): { firstRun: Promise<void>; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = async () => {
    try {
      const aborted = await uploads.sweep();
      if (aborted) logger.info('aborted orphaned multipart uploads', { count: aborted });
    } catch (err) {
      const name = (err as { cause?: { name?: string } }).cause?.name ?? '';
      if (/NotImplemented|MethodNotAllowed/.test(name)) {
        logger.warn('this S3 server cannot list multipart uploads; orphaned uploads are not swept');
        return;
      }
      logger.warn('multipart upload sweep failed; it runs again later', { error: err instanceof Error ? err.message : String(err) });
    }
    if (intervalSec > 0 && !stopped) {
      timer = setTimeout(() => void run(), intervalSec * 1000);
      timer.unref();
    }
  };
  const firstRun = run();
  return {
    firstRun,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
