import winston from 'winston';
import { ISSUED_TOKEN } from './core/auth/tokens.js';

export type Logger = winston.Logger;

const SECRET_KEY = /(token|password|secret|authorization|cookie|credential)/i;
const REDACTED = '[redacted]';

/**
 * Values that must never reach a log line, whatever field or message they end up in
 * (S3 secret key, operator-chosen passwords). Registered once at start-up.
 */
const knownSecrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) knownSecrets.add(value);
}

/** A JWT (a Cells token is an S3 access key in pydio mode), wherever it appears. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g;

function scrubString(s: string): string {
  let out = s.replace(JWT, REDACTED).replace(ISSUED_TOKEN, REDACTED);
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : scrub(v, depth + 1);
  }
  return out;
}

/** Redacts by field name and by known secret value, so a careless log call cannot leak a credential. */
const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    const v = info[key];
    info[key] = SECRET_KEY.test(key) && v !== undefined && v !== null ? REDACTED : scrub(v);
  }
  return info;
});

export function createLogger(opts: { level: string; format: 'json' | 'pretty'; silent?: boolean }): Logger {
  // winston formats every message before its transports look at the level: a message below the level is
  // dropped here, first, so that it costs neither the redaction nor the JSON.
  const belowLevel = winston.format((info) => (logger.isLevelEnabled(info.level) ? info : false));
  const format =
    opts.format === 'pretty'
      ? winston.format.combine(
          belowLevel(),
          redact(),
          winston.format.timestamp({ format: 'HH:mm:ss' }),
          winston.format.printf(({ timestamp, level, message, ...rest }) => {
            const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)} ${level} ${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(belowLevel(), redact(), winston.format.timestamp(), winston.format.json());
  const logger = winston.createLogger({
    level: opts.level,
    format,
    silent: opts.silent ?? false,
    transports: [new winston.transports.Console()],
  });
  return logger;
}
