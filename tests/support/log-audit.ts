import { closeSync, mkdirSync, openSync, writeSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * The suite-wide log audit: every gateway the tests start (in this process or as `dist/main.js`)
 * copies its log lines into the run's audit folder, tests add the secrets they use, and
 * `tests/audit/log-secrets.test.ts`, which the sequencer runs last, reads it all.
 * The folder is made per run by tests/support/sequencer.mjs (TEST_AUDIT_DIR).
 */
const root = process.env.TEST_AUDIT_DIR;

export interface AuditLog {
  write(text: string): void;
  close(): void;
}

/** A log file of its own for one gateway; a no-op when the run has no audit folder. */
export function openAuditLog(label: string): AuditLog {
  if (!root) return { write: () => {}, close: () => {} };
  mkdirSync(path.join(root, 'logs'), { recursive: true });
  const file = path.join(root, 'logs', `${label}-${process.pid}-${randomBytes(4).toString('hex')}.log`);
  let fd: number | undefined = openSync(file, 'a');
  return {
    // Synchronous, so nothing is lost to a test that ends without closing its gateway.
    write: (text) => {
      if (fd !== undefined) writeSync(fd, text);
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** Secret values this test uses (passwords, S3 secrets, signing keys): none may appear in any log. */
export function recordSecrets(...values: (string | undefined)[]): void {
  if (!root) return;
  const kept = values.filter((v): v is string => typeof v === 'string' && v.length >= 6);
  if (kept.length) appendFileSync(path.join(root, 'secrets'), kept.map((v) => `${JSON.stringify(v)}\n`).join(''));
}

/** Secrets recognisable by their shape: the gateway's own tokens and JWTs (Cells tokens). */
export const SECRET_SHAPES: { name: string; pattern: RegExp }[] = [
  { name: 'a gateway token', pattern: /gw[ar]_[A-Za-z0-9_-]{43}/ },
  { name: 'a JWT', pattern: /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/ },
];

export interface Leak {
  file: string;
  line: number;
  what: string;
}

/** Every line of `text` that holds a known secret value or something shaped like a secret. */
export function findLeaks(file: string, text: string, secrets: Iterable<string>): Leak[] {
  const values = [...secrets];
  const leaks: Leak[] = [];
  text.split('\n').forEach((content, i) => {
    for (const s of SECRET_SHAPES) if (s.pattern.test(content)) leaks.push({ file, line: i + 1, what: s.name });
    for (const v of values) if (content.includes(v)) leaks.push({ file, line: i + 1, what: `the secret ${v.slice(0, 3)}…` });
  });
  return leaks;
}

/** The secret settings of a gateway's environment (S3 secret, passwords, sealing keys). */
export function recordSecretsOf(env: Record<string, string | undefined>): void {
  recordSecrets(
    ...Object.entries(env)
      .filter(([k]) => /SECRET|PASSWORD|_KEY$/.test(k))
      .map(([, v]) => v),
  );
}
