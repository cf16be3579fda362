import path from 'node:path';
import { z } from 'zod';
import { PROVIDERS, resolveProfile, type Provider, type S3Profile } from './storage/s3/profiles.js';

const MiB = 1024 * 1024;

/** An unset or empty variable counts as absent, so `FOO=` in a .env file means "use the default". */
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const yesNo = () =>
  z.enum(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false').transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number, fallback: number) => z.preprocess(blankToUndefined, wholeNumber(min, max).default(fallback));
const optionalInt = (min: number, max: number) => z.preprocess(blankToUndefined, wholeNumber(min, max).optional());
const bool = (fallback: boolean) => z.preprocess(blankToUndefined, yesNo().default(fallback));
/** Unset: the provider profile decides. */
const optionalBool = () => z.preprocess(blankToUndefined, yesNo().optional());

// Two letters are allowed for Pydio Cells' `io`; AWS itself wants at least three.
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]$/, 'must be a valid S3 bucket name (2-63 of a-z 0-9 . -)');

const text = (fallback: string) => z.preprocess(blankToUndefined, z.string().default(fallback));
const optionalText = () => z.preprocess(blankToUndefined, z.string().optional());

const url = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'must be an http:// or https:// URL')
    .optional(),
);

const redisUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL')
    .optional(),
);

/**
 * Every setting the gateway reads. Each key here is documented in .env.example (a test keeps the two in step).
 */
export const configSchema = z.object({
  PORT: int(0, 65535, 8080),
  HOST: text('127.0.0.1'),
  DATA_DIR: text('./data'),
  TRUST_PROXY: text('false'),

  S3_ENDPOINT: url,
  S3_REGION: text('us-east-1'),
  S3_BUCKET: z.preprocess(blankToUndefined, bucketName.optional()),
  S3_BUCKETS: z.preprocess(
    blankToUndefined,
    z
      .string()
      .transform((v) => v.split(',').map((b) => b.trim()).filter((b) => b !== ''))
      .pipe(z.array(bucketName, 'must be a comma-separated list of bucket names').min(1).max(100))
      .optional(),
  ),
  S3_ACCESS_KEY_ID: optionalText(),
  S3_SECRET_ACCESS_KEY: optionalText(),
  S3_PROVIDER: z.preprocess(
    blankToUndefined,
    z.enum(PROVIDERS, `must be one of ${PROVIDERS.join(', ')}`).default('other'),
  ),
  S3_FORCE_PATH_STYLE: optionalBool(),
  S3_CHECKSUMS: z.preprocess(
    blankToUndefined,
    z
      .enum(['when_required', 'when_supported'], 'must be when_required or when_supported')
      .transform((v) => v.toUpperCase() as S3Profile['checksums'])
      .optional(),
  ),
  S3_BULK_DELETE: optionalBool(),
  S3_COPY_TO_SELF: optionalBool(),
  S3_CONDITIONAL_WRITES: z.preprocess(
    blankToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no', 'put'], 'must be true, false or put')
      .transform((v): S3Profile['conditionalWrites'] => (v === 'put' ? 'put' : v === 'true' || v === '1' || v === 'yes' ? 'all' : 'none'))
      .optional(),
  ),
  S3_LEGACY_COPY_CONDITIONS: optionalBool(),
  S3_MAX_PARTS: optionalInt(1, 10000),
  S3_PAGINATES: optionalBool(),
  S3_READ_AFTER_WRITE: optionalBool(),
  S3_HEAD_FOLDERS: optionalBool(),
  S3_MAX_SOCKETS: int(1, 10000, 256),
  S3_CONNECT_TIMEOUT_MS: int(100, 600000, 5000),
  S3_REQUEST_TIMEOUT_MS: int(100, 3600000, 60000),
  S3_MAX_ATTEMPTS: int(1, 10, 3),
  S3_CLIENT_CACHE_SIZE: int(1, 100000, 256),

  REDIS_URL: redisUrl,
  REDIS_SENTINELS: z.preprocess(
    blankToUndefined,
    z
      .string()
      .transform((v) => v.split(',').map((a) => a.trim()).filter((a) => a !== ''))
      .pipe(
        z
          .array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be a comma-separated list of host:port'))
          .min(1)
          .transform((list) => list.map((a) => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) }))),
      )
      .optional(),
  ),
  REDIS_SENTINEL_NAME: text('mymaster'),
  REDIS_KEY_PREFIX: text('s3gw:'),
  REDIS_COMMAND_TIMEOUT_MS: int(50, 60000, 2000),

  AUTH_MODE: z.preprocess(blankToUndefined, z.enum(['users', 's3', 'pydio'], 'must be users, s3 or pydio').default('users')),
  CREDENTIALS_KEY: z.preprocess(
    blankToUndefined,
    z
      .string()
      .refine((v) => /^[A-Za-z0-9+/_-]{43}=?$/.test(v) && Buffer.from(v, 'base64').length === 32, 'must be 32 random bytes in base64 (openssl rand -base64 32)')
      .optional(),
  ),
  PYDIO_S3_SECRET: text('gatewaysecret'),
  PYDIO_TOKEN_MARGIN: int(0, 3600, 60),
  USERS_FILE: optionalText(),
  DEMO_PASSWORD: z.preprocess(
    blankToUndefined,
    z.string().min(8, 'must be at least 8 characters').optional(),
  ),
  ACCESS_TOKEN_TTL: int(60, 7 * 24 * 3600, 3600),
  REFRESH_TOKEN_TTL: int(300, 365 * 24 * 3600, 30 * 24 * 3600),
  SIGNIN_ACCOUNT_MAX_FAILURES: int(1, 100000, 10),
  SIGNIN_ACCOUNT_WINDOW: int(1, 7 * 24 * 3600, 900),
  SIGNIN_ADDRESS_MAX_ATTEMPTS: int(1, 100000, 30),
  SIGNIN_ADDRESS_WINDOW: int(1, 7 * 24 * 3600, 60),

  UPLOAD_SEGMENT_SIZE: int(5 * MiB, 5 * 1024 * MiB, 16 * MiB),
  UPLOAD_PART_SIZE: int(5 * MiB, 5 * 1024 * MiB, 8 * MiB),
  UPLOAD_QUEUE_SIZE: int(1, 64, 2),
  UPLOAD_SESSION_TTL: int(60, 30 * 24 * 3600, 24 * 3600),
  UPLOAD_SWEEP_INTERVAL: int(0, 24 * 3600, 300),
  UPLOAD_STREAM_LEASE: int(3, 3600, 60),
  DOWNLOAD_MODE: z.preprocess(blankToUndefined, z.enum(['stream', 'redirect'], 'must be stream or redirect').default('stream')),
  DOWNLOAD_URL_TTL: int(10, 7 * 24 * 3600, 300),
  THUMBNAIL_SIZE: int(16, 4096, 256),
  THUMBNAIL_MAX_SOURCE_BYTES: int(1024, 1024 * MiB, 50 * MiB),
  THUMBNAIL_CACHE_BYTES: int(0, 16 * 1024 * MiB, 64 * MiB),
  LIST_PAGE_SIZE: int(1, 1000, 1000),
  METADATA_CACHE_TTL: int(60, 365 * 24 * 3600, 30 * 24 * 3600),
  S3_HEAD_CONCURRENCY: int(1, 1000, 16),
  COPY_CONCURRENCY: int(1, 1000, 16),
  DELETE_CONCURRENCY: int(1, 1000, 16),
  MULTIPART_COPY_THRESHOLD: optionalInt(5 * MiB, 5 * 1024 * MiB),
  MULTIPART_COPY_PART_SIZE: int(5 * MiB, 5 * 1024 * MiB, 512 * MiB),
  LOCK_WAIT_MS: int(0, 600_000, 15_000),
  LOCK_LEASE_MS: int(1000, 3_600_000, 30_000),

  RATE_LIMIT_PER_TOKEN: int(0, 10_000_000, 1200),
  RATE_LIMIT_PER_ADDRESS: int(0, 10_000_000, 3000),
  RATE_LIMIT_WINDOW: int(1, 24 * 3600, 60),
  CORS_ORIGINS: z.preprocess(
    blankToUndefined,
    z
      .string()
      .transform((v) => v.split(',').map((o) => o.trim()).filter((o) => o !== ''))
      .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be a comma-separated list of origins (https://host[:port])')).min(1))
      .optional(),
  ),

  MAX_JSON_BODY_BYTES: int(1024, 10 * MiB, 64 * 1024),
  MAX_UPLOAD_PLAN_BYTES: int(64 * 1024, 64 * MiB, 4 * MiB),
  BODY_IDLE_TIMEOUT_MS: int(1000, 3600000, 60000),
  MAX_HEADER_BYTES: int(1024, 1024 * 1024, 16 * 1024),
  SHUTDOWN_GRACE_MS: int(0, 600000, 10000),
  READY_TIMEOUT_MS: int(50, 60000, 2000),

  METRICS_ENABLED: bool(false),
  METRICS_PORT: optionalInt(0, 65535),
  METRICS_HOST: text('127.0.0.1'),

  LOG_LEVEL: z.preprocess(
    blankToUndefined,
    z.enum(['error', 'warn', 'info', 'debug'], 'must be error, warn, info or debug').default('info'),
  ),
  LOG_FORMAT: z.preprocess(blankToUndefined, z.enum(['json', 'pretty'], 'must be json or pretty').default('json')),
});

export type Env = z.infer<typeof configSchema>;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  trustProxy: boolean | number | string;
  s3: {
    /** Absent: the gateway runs its embedded S3 server. */
    endpoint: string | undefined;
    region: string;
    /** The bucket served (users mode; the default one in the other modes). */
    bucket: string;
    /** Buckets a person may choose at sign-in (s3 mode); undefined: only `bucket`. */
    buckets: string[] | undefined;
    /** The operator's key pair; in the s3 and pydio modes people sign in with their own. */
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    provider: Provider;
    profile: S3Profile;
    maxSockets: number;
    connectTimeoutMs: number;
    requestTimeoutMs: number;
    maxAttempts: number;
    clientCacheSize: number;
  };
  redis: {
    url: string | undefined;
    /** Sentinels that name the master; the URL then gives only credentials and database. */
    sentinels: Array<{ host: string; port: number }> | undefined;
    sentinelName: string;
    keyPrefix: string;
    commandTimeoutMs: number;
  };
  auth: {
    mode: 'users' | 's3' | 'pydio';
    /** Seals the S3 credentials kept in the session store; undefined: a random key for this process. */
    credentialsKey: Buffer | undefined;
    pydioSecret: string;
    /** A Cells token must stay valid this long past the start of a request. */
    pydioTokenMarginSec: number;
    usersFile: string | undefined;
    demoPassword: string | undefined;
    accessTokenTtlSec: number;
    refreshTokenTtlSec: number;
    signInThrottle: {
      accountMaxFailures: number;
      accountWindowSec: number;
      addressMaxAttempts: number;
      addressWindowSec: number;
    };
  };
  uploadSegmentSize: number;
  transfers: {
    partSize: number;
    queueSize: number;
    sessionTtlSec: number;
    sweepIntervalSec: number;
    streamLeaseSec: number;
    downloadMode: 'stream' | 'redirect';
    downloadUrlTtlSec: number;
    thumbnailSize: number;
    thumbnailMaxSourceBytes: number;
    thumbnailCacheBytes: number;
  };
  files: {
    pageSize: number;
    metadataCacheTtlSec: number;
    headConcurrency: number;
    copyConcurrency: number;
    /** Keys deleted at once where S3 has no DeleteObjects (one request each). */
    deleteConcurrency: number;
    multipartCopyPartSize: number;
  };
  /** Write ordering across instances (see core/namespace-locks.ts). */
  locks: { waitMs: number; leaseMs: number };
  limits: { maxJsonBodyBytes: number; maxUploadPlanBytes: number; maxHeaderBytes: number; bodyIdleTimeoutMs: number };
  /** Requests per access token and per client address within `windowSec`; 0: unlimited. */
  rateLimit: { perToken: number; perAddress: number; windowSec: number };
  /** Browser origins allowed to call the gateway; undefined: CORS off. */
  corsOrigins: string[] | undefined;
  shutdownGraceMs: number;
  readyTimeoutMs: number;
  log: { level: 'error' | 'warn' | 'info' | 'debug'; format: 'json' | 'pretty' };
  /** Prometheus metrics; `port` undefined: served as /metrics on the gateway's own port. */
  metrics: { enabled: boolean; port: number | undefined; host: string };
}

/** A bad setting: its message is the one line the process prints before it stops. */
export class ConfigError extends Error {}

function parseTrustProxy(raw: string): boolean | number | string {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw; // a list of addresses/subnets, as Express understands it
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'configuration');
    const raw = source[name];
    const shown = /SECRET|PASSWORD|CREDENTIALS_KEY/.test(name) ? '' : raw !== undefined ? ` (got "${raw}")` : '';
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}${shown}`);
  }
  const e = parsed.data;
  const fail = (line: string) => {
    throw new ConfigError(`Invalid configuration: ${line}`);
  };
  const ownKeys = e.AUTH_MODE !== 'users';
  if (e.S3_ENDPOINT && !ownKeys && (!e.S3_ACCESS_KEY_ID || !e.S3_SECRET_ACCESS_KEY)) {
    fail(`${e.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID'} is required when S3_ENDPOINT is set`);
  }
  if (Boolean(e.S3_ACCESS_KEY_ID) !== Boolean(e.S3_SECRET_ACCESS_KEY)) {
    fail(`${e.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID'} must be set with ${e.S3_ACCESS_KEY_ID ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY'}`);
  }
  if (ownKeys && e.REDIS_URL && !e.CREDENTIALS_KEY) {
    // Every instance must open what another sealed, and sessions outlive a restart.
    fail(`CREDENTIALS_KEY is required with AUTH_MODE=${e.AUTH_MODE} and REDIS_URL (openssl rand -base64 32)`);
  }
  if (e.AUTH_MODE === 'pydio' && !e.S3_ENDPOINT) fail('S3_ENDPOINT is required with AUTH_MODE=pydio (the URL of Pydio Cells)');
  if (e.AUTH_MODE === 'pydio' && e.DOWNLOAD_MODE === 'redirect') {
    // The access key of a presigned URL is in the URL, and in this mode it is the person's Cells token.
    fail('DOWNLOAD_MODE=redirect cannot be used with AUTH_MODE=pydio: the URL would carry the Cells token');
  }
  if (e.S3_BUCKETS && e.AUTH_MODE !== 's3') fail('S3_BUCKETS is only used with AUTH_MODE=s3');
  if (e.S3_BUCKETS && e.S3_BUCKET && !e.S3_BUCKETS.includes(e.S3_BUCKET)) fail(`S3_BUCKET must be one of S3_BUCKETS`);
  const provider = e.S3_PROVIDER;
  const profile = resolveProfile(provider, {
    forcePathStyle: e.S3_FORCE_PATH_STYLE,
    checksums: e.S3_CHECKSUMS,
    bulkDelete: e.S3_BULK_DELETE,
    copyToSelf: e.S3_COPY_TO_SELF,
    conditionalWrites: e.S3_CONDITIONAL_WRITES,
    legacyCopyConditions: e.S3_LEGACY_COPY_CONDITIONS,
    multipartCopyCutoff: e.MULTIPART_COPY_THRESHOLD,
    maxParts: e.S3_MAX_PARTS,
    paginates: e.S3_PAGINATES,
    readAfterWrite: e.S3_READ_AFTER_WRITE,
    headFolders: e.S3_HEAD_FOLDERS,
  });
  if (e.REDIS_SENTINELS && !e.REDIS_URL) fail('REDIS_URL is required with REDIS_SENTINELS (for password and database; its host is not used)');
  if (e.REFRESH_TOKEN_TTL <= e.ACCESS_TOKEN_TTL) {
    throw new ConfigError('Invalid configuration: REFRESH_TOKEN_TTL must be longer than ACCESS_TOKEN_TTL');
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    s3: {
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      bucket: e.S3_BUCKET ?? e.S3_BUCKETS?.[0] ?? (e.AUTH_MODE === 'pydio' ? 'io' : 'gateway'),
      buckets: e.S3_BUCKETS,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      provider,
      profile,
      maxSockets: e.S3_MAX_SOCKETS,
      connectTimeoutMs: e.S3_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: e.S3_REQUEST_TIMEOUT_MS,
      maxAttempts: e.S3_MAX_ATTEMPTS,
      clientCacheSize: e.S3_CLIENT_CACHE_SIZE,
    },
    redis: {
      url: e.REDIS_URL,
      sentinels: e.REDIS_SENTINELS,
      sentinelName: e.REDIS_SENTINEL_NAME,
      keyPrefix: e.REDIS_KEY_PREFIX,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    },
    auth: {
      mode: e.AUTH_MODE,
      credentialsKey: e.CREDENTIALS_KEY ? Buffer.from(e.CREDENTIALS_KEY, 'base64') : undefined,
      pydioSecret: e.PYDIO_S3_SECRET,
      pydioTokenMarginSec: e.PYDIO_TOKEN_MARGIN,
      usersFile: e.USERS_FILE,
      demoPassword: e.DEMO_PASSWORD,
      accessTokenTtlSec: e.ACCESS_TOKEN_TTL,
      refreshTokenTtlSec: e.REFRESH_TOKEN_TTL,
      signInThrottle: {
        accountMaxFailures: e.SIGNIN_ACCOUNT_MAX_FAILURES,
        accountWindowSec: e.SIGNIN_ACCOUNT_WINDOW,
        addressMaxAttempts: e.SIGNIN_ADDRESS_MAX_ATTEMPTS,
        addressWindowSec: e.SIGNIN_ADDRESS_WINDOW,
      },
    },
    uploadSegmentSize: e.UPLOAD_SEGMENT_SIZE,
    transfers: {
      partSize: e.UPLOAD_PART_SIZE,
      queueSize: e.UPLOAD_QUEUE_SIZE,
      sessionTtlSec: e.UPLOAD_SESSION_TTL,
      sweepIntervalSec: e.UPLOAD_SWEEP_INTERVAL,
      streamLeaseSec: e.UPLOAD_STREAM_LEASE,
      downloadMode: e.DOWNLOAD_MODE,
      downloadUrlTtlSec: e.DOWNLOAD_URL_TTL,
      thumbnailSize: e.THUMBNAIL_SIZE,
      thumbnailMaxSourceBytes: e.THUMBNAIL_MAX_SOURCE_BYTES,
      thumbnailCacheBytes: e.THUMBNAIL_CACHE_BYTES,
    },
    files: {
      pageSize: e.LIST_PAGE_SIZE,
      metadataCacheTtlSec: e.METADATA_CACHE_TTL,
      headConcurrency: e.S3_HEAD_CONCURRENCY,
      copyConcurrency: e.COPY_CONCURRENCY,
      deleteConcurrency: e.DELETE_CONCURRENCY,
      multipartCopyPartSize: e.MULTIPART_COPY_PART_SIZE,
    },
    locks: { waitMs: e.LOCK_WAIT_MS, leaseMs: e.LOCK_LEASE_MS },
    limits: { maxJsonBodyBytes: e.MAX_JSON_BODY_BYTES, maxUploadPlanBytes: e.MAX_UPLOAD_PLAN_BYTES, maxHeaderBytes: e.MAX_HEADER_BYTES, bodyIdleTimeoutMs: e.BODY_IDLE_TIMEOUT_MS },
    rateLimit: { perToken: e.RATE_LIMIT_PER_TOKEN, perAddress: e.RATE_LIMIT_PER_ADDRESS, windowSec: e.RATE_LIMIT_WINDOW },
    corsOrigins: e.CORS_ORIGINS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    readyTimeoutMs: e.READY_TIMEOUT_MS,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    metrics: { enabled: e.METRICS_ENABLED, port: e.METRICS_PORT, host: e.METRICS_HOST },
  };
}
