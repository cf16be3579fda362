import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { loadConfig } from '../../src/config.js';
import { hashPassword } from '../../src/core/auth/passwords.js';
import { createLogger, type Logger } from '../../src/log.js';
import { buildRuntime, type Runtime } from '../../src/runtime.js';
import type { S3Bucket } from '../../src/storage/s3/bucket.js';
import { EMBEDDED_CREDENTIALS } from '../../src/storage/s3/embedded.js';
import { openAuditLog, recordSecretsOf } from './log-audit.js';
import { realS3, testRedisUrl, uniquePrefix } from './targets.js';

export interface TestGateway {
  runtime: Runtime;
  /** The bucket with the operator's keys (users mode): what tests seed and inspect directly. */
  bucket: S3Bucket;
  logger: Logger;
  /** Every line the gateway logged, for assertions (and for the no-secrets check). */
  logLines: string[];
  close(): Promise<void>;
}

export const DEMO_PASSWORD = 'correct horse battery staple';
export const TEST_PASSWORD = 'test-account-password';

let testPasswordHash: Promise<string> | undefined;

export interface TestUser {
  name: string;
  /** Absent: MOUNTS_FILE's home template places the account (else the whole bucket). */
  root?: string;
  readOnly?: boolean;
  /** false: the account has no home of its own (only mounts). */
  home?: boolean;
}

/**
 * A whole gateway in this process, as `npm start` builds it: against the embedded s3rver or the real
 * S3 of S3_TEST_ENDPOINT, with the in-process store or the test Redis.
 */
export async function startTestGateway(opts: {
  store: 'memory' | 'redis';
  env?: Record<string, string>;
  /** Accounts of a users file (password TEST_PASSWORD); without them, the demo account. */
  users?: TestUser[];
}): Promise<TestGateway> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gw-test-'));
  const env: Record<string, string> = { DATA_DIR: dataDir, DEMO_PASSWORD, LOG_LEVEL: 'debug' };
  if (opts.users) {
    // One hash for every gateway of the run: instances serving one set of accounts read one users file.
    const passwordHash = await (testPasswordHash ??= hashPassword(TEST_PASSWORD));
    const file = path.join(dataDir, 'users.json');
    await writeFile(file, JSON.stringify({ users: opts.users.map((u) => ({ ...u, passwordHash, readOnly: u.readOnly ?? false })) }));
    env.USERS_FILE = file;
  }
  if (realS3) {
    Object.assign(env, {
      S3_ENDPOINT: realS3.endpoint,
      S3_ACCESS_KEY_ID: realS3.accessKeyId,
      S3_SECRET_ACCESS_KEY: realS3.secretAccessKey,
      S3_BUCKET: realS3.bucket,
      S3_REGION: realS3.region,
      S3_PROVIDER: realS3.provider,
    });
  }
  if (opts.store === 'redis') {
    if (!testRedisUrl) throw new Error('no test Redis (see tests/support/global-setup.ts)');
    Object.assign(env, { REDIS_URL: testRedisUrl, REDIS_KEY_PREFIX: uniquePrefix('gw') });
  }
  Object.assign(env, opts.env ?? {});
  const config = loadConfig(env);
  recordSecretsOf(env);

  const logLines: string[] = [];
  const audit = openAuditLog('in-process');
  const logger = createLogger({ level: 'debug', format: 'json' });
  logger.clear();
  logger.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk, _enc, cb) {
          logLines.push(String(chunk));
          audit.write(String(chunk));
          cb();
        },
      }),
    }),
  );

  const runtime = await buildRuntime(config, logger);
  return {
    runtime,
    get bucket() {
      if (!runtime.bucket) throw new Error('this gateway holds no S3 keys of its own');
      return runtime.bucket;
    },
    logger,
    logLines,
    async close() {
      await runtime.close();
      logger.close();
      audit.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Settings for a second gateway on the same S3 as `gw` (the embedded server of `gw`, or the real S3). */
export function sameS3(gw: TestGateway): Record<string, string> {
  const embedded = gw.runtime.embeddedS3;
  return embedded
    ? { S3_ENDPOINT: embedded.endpoint, S3_ACCESS_KEY_ID: EMBEDDED_CREDENTIALS.accessKeyId, S3_SECRET_ACCESS_KEY: EMBEDDED_CREDENTIALS.secretAccessKey }
    : {};
}
