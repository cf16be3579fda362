import { terminalSafe } from './terminal-text.js';
import { Transform, type TransformCallback } from 'node:stream';
import cliProgress from 'cli-progress';

/**
 * Bytes moved, shown as a bar on a terminal; silent when stderr is not one (scripts) unless --progress asks
 * for it anyway (a line per second, for logs), and always with --quiet.
 */
export interface Progress {
  add(bytes: number): void;
  /** A stream stage that counts what passes through. */
  counter(): Transform;
  stop(): void;
}

export function progressBar(label: string, total: number, opts: { quiet: boolean; progress?: boolean; start?: number }): Progress {
  const terminal = process.stderr.isTTY === true;
  const show = !opts.quiet && (terminal || opts.progress === true);
  const bar = show
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: '{label} [{bar}] {percentage}% | {done}/{size} | {speed}',
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
          noTTYOutput: !terminal,
          notTTYSchedule: 1000,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const started = Date.now();
  let done = opts.start ?? 0;
  const payload = () => ({
    label: terminalSafe(label),
    done: bytes(done),
    size: bytes(total),
    speed: `${bytes(((done - (opts.start ?? 0)) * 1000) / Math.max(1, Date.now() - started))}/s`,
  });
  bar?.start(Math.max(total, 1), done, payload());
  const add = (n: number) => {
    done += n;
    bar?.update(done, payload());
  };
  return {
    add,
    counter: () =>
      new Transform({
        transform(chunk: Buffer, _enc, cb: TransformCallback) {
          add(chunk.length);
          cb(null, chunk);
        },
      }),
    stop: () => bar?.stop(),
  };
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/**
 * Caps a stream at `bytesPerSecond` (--limit-rate): delays each chunk until the bytes so far would
 * have taken that long, so backpressure slows the reader rather than filling memory.
 */
export function rateLimit(bytesPerSecond: number | undefined): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      sent += chunk.length;
      if (!bytesPerSecond) return cb(null, chunk);
      const due = started + (sent * 1000) / bytesPerSecond - Date.now();
      if (due <= 0) return cb(null, chunk);
      setTimeout(() => cb(null, chunk), due);
    },
  });
}
