import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { Express } from 'express';
import type { Config } from './config.js';
import { AccountDirectory, buildAccount, loadAccountsFile, type Account } from './core/auth/accounts.js';
import { hashPassword } from './core/auth/passwords.js';
import { SessionService } from './core/auth/sessions.js';
import { SignInService } from './core/auth/sign-in.js';
import { SignInThrottle } from './core/auth/throttle.js';
import { BucketFileSystem } from './core/file-system.js';
import { MetadataCache } from './core/metadata-cache.js';
import { DownloadService } from './core/transfers/downloads.js';
import { startUploadSweeper } from './core/transfers/sweeper.js';
import { ThumbnailService } from './core/transfers/thumbnails.js';
import { UploadService } from './core/transfers/uploads.js';
import type { GatewayServices, ReadinessReport } from './core/services.js';
import { createApp } from './http/app.js';
import { registerSecret, type Logger } from './log.js';
import { S3Bucket } from './storage/s3/bucket.js';
import { createS3Client } from './storage/s3/client.js';
import { EMBEDDED_CREDENTIALS, startEmbeddedS3, type EmbeddedS3 } from './storage/s3/embedded.js';
import { MemorySessionStore } from './storage/session-store/memory.js';
import { RedisSessionStore } from './storage/session-store/redis.js';
import type { SessionStore } from './storage/session-store/types.js';

export interface DemoAccount {
  name: string;
  password: string;
  /** True when the gateway made the password up (and so may print it). */
  generated: boolean;
}

export interface Runtime {
  config: Config;
  app: Express;
  services: GatewayServices;
  store: SessionStore;
  bucket: S3Bucket;
  embeddedS3: EmbeddedS3 | undefined;
  demo: DemoAccount | undefined;
  close(): Promise<void>;
}

async function openStore(config: Config): Promise<SessionStore> {
  if (!config.redis.url) return new MemorySessionStore();
  const store = new RedisSessionStore({ ...config.redis, url: config.redis.url });
  try {
    await store.connect();
  } catch (err) {
    await store.close();
    throw new Error(`REDIS_URL: cannot connect to Redis (${(err as Error).message})`);
  }
  return store;
}

async function demoAccount(config: Config): Promise<{ account: Account; demo: DemoAccount }> {
  const generated = config.auth.demoPassword === undefined;
  const password = config.auth.demoPassword ?? randomBytes(12).toString('base64url');
  const account = buildAccount({ name: 'demo', passwordHash: await hashPassword(password), root: '', readOnly: false });
  return { account, demo: { name: 'demo', password, generated } };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Builds every part of the gateway from its configuration; `close()` releases them in reverse. */
export async function buildRuntime(config: Config, logger: Logger): Promise<Runtime> {
  registerSecret(config.s3.secretAccessKey);
  registerSecret(config.auth.demoPassword);
  await mkdir(config.dataDir, { recursive: true });

  const opened: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of opened.reverse()) await close().catch(() => undefined);
  };

  try {
    let embeddedS3: EmbeddedS3 | undefined;
    if (!config.s3.endpoint) {
      embeddedS3 = await startEmbeddedS3(config.dataDir);
      opened.push(() => embeddedS3!.close());
    }
    const client = createS3Client({
      ...config.s3,
      endpoint: config.s3.endpoint ?? embeddedS3!.endpoint,
      forcePathStyle: embeddedS3 ? true : config.s3.forcePathStyle,
      accessKeyId: config.s3.accessKeyId ?? EMBEDDED_CREDENTIALS.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey ?? EMBEDDED_CREDENTIALS.secretAccessKey,
      logger,
    });
    const bucket = new S3Bucket(client, config.s3.bucket, config.files);
    opened.push(async () => bucket.destroy());
    if (embeddedS3) await bucket.ensureExists();

    const store = await openStore(config);
    opened.push(() => store.close());

    let accounts: Account[];
    let demo: DemoAccount | undefined;
    if (config.auth.usersFile) {
      accounts = await loadAccountsFile(config.auth.usersFile);
    } else {
      const d = await demoAccount(config);
      accounts = [d.account];
      demo = d.demo;
    }
    const directory = new AccountDirectory(accounts);
    const sessions = new SessionService(store, directory, {
      accessSec: config.auth.accessTokenTtlSec,
      refreshSec: config.auth.refreshTokenTtlSec,
    });
    const throttle = new SignInThrottle(store, config.auth.signInThrottle);
    const signIn = await SignInService.create(directory, sessions, throttle);
    const cache = new MetadataCache(store, config.files.metadataCacheTtlSec * 1000);
    const files = new BucketFileSystem(bucket, cache, store, config.files);
    const t = config.transfers;
    const uploads = new UploadService(
      bucket,
      files,
      cache,
      store,
      { partSize: t.partSize, queueSize: t.queueSize, segmentSize: config.uploadSegmentSize, sessionTtlMs: t.sessionTtlSec * 1000 },
      logger,
    );
    const downloads = new DownloadService(bucket, { mode: t.downloadMode, urlTtlSec: t.downloadUrlTtlSec });
    const thumbnails = new ThumbnailService(bucket, {
      size: t.thumbnailSize,
      maxSourceBytes: t.thumbnailMaxSourceBytes,
      cacheBytes: t.thumbnailCacheBytes,
    });
    const sweeper = startUploadSweeper(uploads, t.sweepIntervalSec, logger);
    opened.push(async () => sweeper.stop());
    await sweeper.firstRun;

    const readiness = async (): Promise<ReadinessReport> => {
      const checks: Record<string, string> = {};
      const probe = async (name: string, check: () => Promise<void>) => {
        try {
          await withTimeout(check(), config.readyTimeoutMs, name);
          checks[name] = 'ok';
        } catch (err) {
          checks[name] = err instanceof Error ? err.message : String(err);
        }
      };
      await Promise.all([probe('s3', () => bucket.check()), probe('sessionStore', () => store.ping())]);
      return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
    };

    const services: GatewayServices = {
      accounts: directory,
      signIn,
      sessions,
      files,
      uploads,
      downloads,
      thumbnails,
      uploadSegmentSize: config.uploadSegmentSize,
      readiness,
    };
    const app = createApp({ services, logger, maxJsonBodyBytes: config.limits.maxJsonBodyBytes, trustProxy: config.trustProxy });
    return { config, app, services, store, bucket, embeddedS3, demo, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
