import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { rootTemplateProblem } from './core/auth/oidc/claims.js';
import { PROVIDERS, resolveProfile, type S3Profile } from './storage/s3/profiles.js';

const MiB = 1024 * 1024;

/** An unset or empty variable counts as absent, so `FOO=` in a .env file means "use the default". */
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const yesNo = () => z.enum(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false').transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number, fallback: number) => z.preprocess(blankToUndefined, wholeNumber(min, max).default(fallback));
const optionalInt = (min: number, max: number) => z.preprocess(blankToUndefined, wholeNumber(min, max).optional());
const bool = (fallback: boolean) => z.preprocess(blankToUndefined, yesNo().default(fallback));
/** Unset: the provider profile decides. */
const optionalBool = () => z.preprocess(blankToUndefined, yesNo().optional());

// Two letters are allowed for Pydio Cells' `io`; AWS itself wants at least three.
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]$/, 'must be a valid S3 bucket name (2-63 of a-z 0-9 . -)');

const text = (fallback: string) => z.preprocess(blankToUndefined, z.string().default(fallback));
const optionalText = () => z.preprocess(blankToUndefined, z.string().optional());

/** `scheme://user:password@host`: user info, also in a value too broken for `URL` to parse. */
const userInfo = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*@/;
const hasUserInfo = (v: string) => userInfo.test(v);

/** A refused value as the error line may show it: never a secret, and never a URL's user info. */
const printable = (raw: string) => raw.replace(/(^|[\s,])([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#\s,]*@/g, '$1$2…@');

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
    // Keys go in their own (secret) settings, where they are never printed or logged.
    .refine((v) => !hasUserInfo(v), 'must not carry a user name or password (use S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY)')
    .optional(),
);

const redisUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL')
    .optional(),
);

/** A bad setting: its message is the one line the process prints before it stops. */
export class ConfigError extends Error {}

function parseTrustProxy(raw: string): boolean | number | string {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw; // a list of addresses/subnets, as Express understands it
}

/** `a, b,,c` → ['a', 'b', 'c'] */
const commaSeparated = z.string().transform((v) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
);

const list = (item: z.ZodType<string, string>, problem: string, max = 1000) =>
  z.preprocess(blankToUndefined, commaSeparated.pipe(z.array(item, problem).min(1).max(max)).optional());

/** Redis nodes (sentinels, cluster nodes) as `host:port,host:port`. */
const hostPorts = list(
  z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be a comma-separated list of host:port'),
  'must be a comma-separated list of host:port',
).transform((hosts) => hosts?.map((a) => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) })));

/** One setting: the variable it is read from, how, and whether it is a secret (readable from NAME_FILE). */
interface Setting<T> {
  readonly env: string;
  readonly schema: z.ZodType<T, unknown>;
  readonly secret: boolean;
}
const from = <T>(env: string, schema: z.ZodType<T, unknown>): Setting<T> => ({ env, schema, secret: false });
const secret = <T>(env: string, schema: z.ZodType<T, unknown>): Setting<T> => ({ env, schema, secret: true });

/**
 * Every setting the gateway reads, once: where it goes in the configuration, the variable it comes from
 * and how it is read. Each variable is documented in .env.example (a test keeps the two in step).
 */
const SETTINGS = {
  port: from('PORT', int(0, 65535, 8080)),
  host: from('HOST', text('127.0.0.1')),
  dataDir: from(
    'DATA_DIR',
    text('./data').transform((p) => path.resolve(p)),
  ),
  trustProxy: from('TRUST_PROXY', text('false').transform(parseTrustProxy)),
  s3: {
    /** Absent: the gateway runs its embedded S3 server. */
    endpoint: from('S3_ENDPOINT', url),
    region: from('S3_REGION', text('us-east-1')),
    /** The bucket served (users mode; the default one in the other modes); unset: see `loadConfig`. */
    bucket: from('S3_BUCKET', z.preprocess(blankToUndefined, bucketName.optional())),
    /** Buckets a person may choose at sign-in (s3 mode); undefined: only `bucket`. */
    buckets: from('S3_BUCKETS', list(bucketName, 'must be a comma-separated list of bucket names', 100)),
    /** The operator's key pair; in the s3 and pydio modes people sign in with their own. */
    accessKeyId: secret('S3_ACCESS_KEY_ID', optionalText()),
    secretAccessKey: secret('S3_SECRET_ACCESS_KEY', optionalText()),
    provider: from('S3_PROVIDER', z.preprocess(blankToUndefined, z.enum(PROVIDERS, `must be one of ${PROVIDERS.join(', ')}`).default('other'))),
    /** Per-setting overrides of the provider's profile; unset: the profile decides. */
    overrides: {
      forcePathStyle: from('S3_FORCE_PATH_STYLE', optionalBool()),
      checksums: from(
        'S3_CHECKSUMS',
        z.preprocess(
          blankToUndefined,
          z
            .enum(['when_required', 'when_supported'], 'must be when_required or when_supported')
            .transform((v) => v.toUpperCase() as S3Profile['checksums'])
            .optional(),
        ),
      ),
      bulkDelete: from('S3_BULK_DELETE', optionalBool()),
      copyToSelf: from('S3_COPY_TO_SELF', optionalBool()),
      conditionalWrites: from(
        'S3_CONDITIONAL_WRITES',
        z.preprocess(
          blankToUndefined,
          z
            .enum(['true', 'false', '1', '0', 'yes', 'no', 'put'], 'must be true, false or put')
            .transform((v): S3Profile['conditionalWrites'] => (v === 'put' ? 'put' : v === 'true' || v === '1' || v === 'yes' ? 'all' : 'none'))
            .optional(),
        ),
      ),
      legacyCopyConditions: from('S3_LEGACY_COPY_CONDITIONS', optionalBool()),
      multipartCopyCutoff: from('MULTIPART_COPY_THRESHOLD', optionalInt(5 * MiB, 5 * 1024 * MiB)),
      maxParts: from('S3_MAX_PARTS', optionalInt(1, 10000)),
      paginates: from('S3_PAGINATES', optionalBool()),
      readAfterWrite: from('S3_READ_AFTER_WRITE', optionalBool()),
      headFolders: from('S3_HEAD_FOLDERS', optionalBool()),
    },
    maxSockets: from('S3_MAX_SOCKETS', int(1, 10000, 256)),
    connectTimeoutMs: from('S3_CONNECT_TIMEOUT_MS', int(100, 600000, 5000)),
    requestTimeoutMs: from('S3_REQUEST_TIMEOUT_MS', int(100, 3600000, 60000)),
    maxAttempts: from('S3_MAX_ATTEMPTS', int(1, 10, 3)),
    clientCacheSize: from('S3_CLIENT_CACHE_SIZE', int(1, 100000, 256)),
  },
  /** Without Redis: what the in-process store may hold (values; sets a quarter of it more). */
  memoryStoreMaxBytes: from('MEMORY_STORE_MAX_BYTES', int(64 * 1024, 64 * 1024 * MiB, 256 * MiB)),
  redis: {
    url: secret('REDIS_URL', redisUrl),
    /** Sentinels that name the master; the URL then gives only credentials and database. */
    sentinels: from('REDIS_SENTINELS', hostPorts),
    sentinelName: from('REDIS_SENTINEL_NAME', text('mymaster')),
    /** Some nodes of a Redis Cluster (the others are discovered); the URL then gives only credentials and TLS. */
    clusterNodes: from('REDIS_CLUSTER_NODES', hostPorts),
    keyPrefix: from('REDIS_KEY_PREFIX', text('s3gw:')),
    commandTimeoutMs: from('REDIS_COMMAND_TIMEOUT_MS', int(50, 60000, 2000)),
  },
  auth: {
    mode: from('AUTH_MODE', z.preprocess(blankToUndefined, z.enum(['users', 's3', 'pydio', 'oidc'], 'must be users, s3, pydio or oidc').default('users'))),
    /** Seals the S3 credentials kept in the session store; undefined: a random key for this process. */
    credentialsKey: secret(
      'CREDENTIALS_KEY',
      z.preprocess(
        blankToUndefined,
        z
          .string()
          .refine(
            (v) => /^[A-Za-z0-9+/_-]{43}=?$/.test(v) && Buffer.from(v, 'base64').length === 32,
            'must be 32 random bytes in base64 (openssl rand -base64 32)',
          )
          .transform((v) => Buffer.from(v, 'base64'))
          .optional(),
      ),
    ),
    pydioSecret: secret('PYDIO_S3_SECRET', text('gatewaysecret')),
    /** A Cells token must stay valid this long past the start of a request. */
    pydioTokenMarginSec: from('PYDIO_TOKEN_MARGIN', int(0, 3600, 60)),
    usersFile: from('USERS_FILE', optionalText()),
    /** How often the users file is checked for changes (it is also re-read on SIGHUP). */
    usersFileCheckSec: from('USERS_FILE_CHECK_INTERVAL', int(1, 3600, 5)),
    /** Shared folders (mounts) and who sees them; checked for changes as often as USERS_FILE, re-read on SIGHUP. */
    mountsFile: from('MOUNTS_FILE', optionalText()),
    demoPassword: secret('DEMO_PASSWORD', z.preprocess(blankToUndefined, z.string().min(8, 'must be at least 8 characters').optional())),
    accessTokenTtlSec: from('ACCESS_TOKEN_TTL', int(60, 7 * 24 * 3600, 3600)),
    refreshTokenTtlSec: from('REFRESH_TOKEN_TTL', int(300, 365 * 24 * 3600, 30 * 24 * 3600)),
    /** A session (a sign-in and its refreshes) ends this long after the sign-in, however often refreshed. */
    sessionMaxAgeSec: from('SESSION_MAX_AGE', int(1, 5 * 365 * 24 * 3600, 30 * 24 * 3600)),
    /** How long an instance trusts an access token it has looked up (0: never); what other instances end takes this long to count here. */
    sessionCacheMs: from('SESSION_CACHE_MS', int(0, 60_000, 500)),
    signInThrottle: {
      accountMaxFailures: from('SIGNIN_ACCOUNT_MAX_FAILURES', int(1, 100000, 10)),
      accountWindowSec: from('SIGNIN_ACCOUNT_WINDOW', int(1, 7 * 24 * 3600, 900)),
      addressMaxAttempts: from('SIGNIN_ADDRESS_MAX_ATTEMPTS', int(1, 100000, 30)),
      addressWindowSec: from('SIGNIN_ADDRESS_WINDOW', int(1, 7 * 24 * 3600, 60)),
    },
    /** Password checks that may wait for their turn (two run at once); beyond them, 429. */
    signInQueueSize: from('SIGNIN_QUEUE_SIZE', int(1, 10000, 16)),
    /** AUTH_MODE=oidc: odrive's oauth sign-in through an OpenID Connect provider. */
    oidc: {
      issuer: from('OIDC_ISSUER', url),
      clientId: from('OIDC_CLIENT_ID', optionalText()),
      clientSecret: secret('OIDC_CLIENT_SECRET', optionalText()),
      /** A PKCS#8 PEM file: the gateway then authenticates with private_key_jwt instead of a secret. */
      privateKeyFile: from('OIDC_CLIENT_PRIVATE_KEY_FILE', optionalText()),
      keyId: from('OIDC_CLIENT_KEY_ID', optionalText()),
      redirectUrl: from('OIDC_REDIRECT_URL', url),
      scopes: from('OIDC_SCOPES', text('openid email profile offline_access')),
      root: from('OIDC_ROOT', text('users/{sub}/')),
      groupsClaim: from('OIDC_GROUPS_CLAIM', text('groups')),
      allowedGroups: from('OIDC_ALLOWED_GROUPS', list(z.string().min(1), 'must be a comma-separated list of group names')),
      readOnlyGroups: from('OIDC_READONLY_GROUPS', list(z.string().min(1), 'must be a comma-separated list of group names')),
      /** How long a sign-in begun by gateway_auth_method may take to finish in the browser. */
      stateTtlSec: from('OIDC_STATE_TTL', int(5, 3600, 600)),
      timeoutSec: from('OIDC_TIMEOUT', int(1, 120, 10)),
      /** Without a provider refresh token, sessions end with the ID token unless this is true. */
      keepWithoutRefreshToken: from('OIDC_KEEP_SESSION_WITHOUT_REFRESH_TOKEN', bool(false)),
    },
  },
  uploadSegmentSize: from('UPLOAD_SEGMENT_SIZE', int(5 * MiB, 5 * 1024 * MiB, 16 * MiB)),
  transfers: {
    partSize: from('UPLOAD_PART_SIZE', int(5 * MiB, 5 * 1024 * MiB, 8 * MiB)),
    queueSize: from('UPLOAD_QUEUE_SIZE', int(1, 64, 2)),
    sessionTtlSec: from('UPLOAD_SESSION_TTL', int(60, 30 * 24 * 3600, 24 * 3600)),
    sweepIntervalSec: from('UPLOAD_SWEEP_INTERVAL', int(0, 24 * 3600, 300)),
    streamLeaseSec: from('UPLOAD_STREAM_LEASE', int(3, 3600, 60)),
    streamsPerAccount: from('UPLOAD_STREAMS_PER_ACCOUNT', int(1, 1000, 4)),
    streamsMax: from('UPLOAD_STREAMS_MAX', int(1, 10000, 32)),
    /** Copies between two S3 servers (moves across mounts) this process streams at once; more wait their turn. */
    mountCopyStreams: from('MOUNT_COPY_STREAMS', int(1, 1000, 4)),
    segmentedOpenPerAccount: from('UPLOAD_SEGMENTED_MAX_OPEN', int(1, 10000, 8)),
    downloadMode: from('DOWNLOAD_MODE', z.preprocess(blankToUndefined, z.enum(['stream', 'redirect'], 'must be stream or redirect').default('stream'))),
    downloadUrlTtlSec: from('DOWNLOAD_URL_TTL', int(10, 7 * 24 * 3600, 300)),
    thumbnailSize: from('THUMBNAIL_SIZE', int(16, 4096, 256)),
    thumbnailMaxSourceBytes: from('THUMBNAIL_MAX_SOURCE_BYTES', int(1024, 1024 * MiB, 50 * MiB)),
    thumbnailCacheBytes: from('THUMBNAIL_CACHE_BYTES', int(0, 16 * 1024 * MiB, 64 * MiB)),
    thumbnailConcurrency: from('THUMBNAIL_CONCURRENCY', int(1, 64, 2)),
    thumbnailQueueSize: from('THUMBNAIL_QUEUE_SIZE', int(0, 10000, 16)),
  },
  files: {
    pageSize: from('LIST_PAGE_SIZE', int(1, 1000, 1000)),
    metadataCacheTtlSec: from('METADATA_CACHE_TTL', int(60, 365 * 24 * 3600, 30 * 24 * 3600)),
    headConcurrency: from('S3_HEAD_CONCURRENCY', int(1, 1000, 16)),
    copyConcurrency: from('COPY_CONCURRENCY', int(1, 1000, 16)),
    /** Keys deleted at once where S3 has no DeleteObjects (one request each). */
    deleteConcurrency: from('DELETE_CONCURRENCY', int(1, 1000, 16)),
    multipartCopyPartSize: from('MULTIPART_COPY_PART_SIZE', int(5 * MiB, 5 * 1024 * MiB, 512 * MiB)),
  },
  /** Folder renames, moves and deletes run as jobs (see core/folder-jobs/jobs.ts). */
  folderJobs: {
    waitMs: from('FOLDER_JOB_WAIT_MS', int(1000, 600_000, 20_000)),
    maxRunning: from('FOLDER_JOBS_MAX', int(1, 1000, 16)),
  },
  /** Write ordering across instances (see core/namespace-locks.ts). */
  locks: {
    waitMs: from('LOCK_WAIT_MS', int(0, 600_000, 15_000)),
    leaseMs: from('LOCK_LEASE_MS', int(1000, 3_600_000, 30_000)),
  },
  limits: {
    maxJsonBodyBytes: from('MAX_JSON_BODY_BYTES', int(1024, 10 * MiB, 64 * 1024)),
    maxUploadPlanBytes: from('MAX_UPLOAD_PLAN_BYTES', int(64 * 1024, 64 * MiB, 4 * MiB)),
    maxHeaderBytes: from('MAX_HEADER_BYTES', int(1024, 1024 * 1024, 16 * 1024)),
    bodyIdleTimeoutMs: from('BODY_IDLE_TIMEOUT_MS', int(1000, 3600000, 60000)),
  },
  /** Requests per access token and per client address within `windowSec`; 0: unlimited. */
  rateLimit: {
    perToken: from('RATE_LIMIT_PER_TOKEN', int(0, 10_000_000, 1200)),
    perAddress: from('RATE_LIMIT_PER_ADDRESS', int(0, 10_000_000, 3000)),
    windowSec: from('RATE_LIMIT_WINDOW', int(1, 24 * 3600, 60)),
  },
  /** Browser origins allowed to call the gateway; undefined: CORS off. */
  corsOrigins: from(
    'CORS_ORIGINS',
    list(
      z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be a comma-separated list of origins (https://host[:port])'),
      'must be a comma-separated list of origins',
    ),
  ),
  shutdownGraceMs: from('SHUTDOWN_GRACE_MS', int(0, 600000, 10000)),
  readyTimeoutMs: from('READY_TIMEOUT_MS', int(50, 60000, 2000)),
  log: {
    level: from('LOG_LEVEL', z.preprocess(blankToUndefined, z.enum(['error', 'warn', 'info', 'debug'], 'must be error, warn, info or debug').default('info'))),
    format: from('LOG_FORMAT', z.preprocess(blankToUndefined, z.enum(['json', 'pretty'], 'must be json or pretty').default('json'))),
  },
  /** Prometheus metrics; `port` undefined: served as /metrics on the gateway's own port. */
  metrics: {
    enabled: from('METRICS_ENABLED', bool(false)),
    port: from('METRICS_PORT', optionalInt(0, 65535)),
    host: from('METRICS_HOST', text('127.0.0.1')),
  },
};

type SettingsTree = { readonly [key: string]: Setting<unknown> | SettingsTree };
type Read<T> = { readonly [K in keyof T]: T[K] extends Setting<infer V> ? V : Read<T[K]> };
type Raw = Read<typeof SETTINGS>;

const isSetting = (x: Setting<unknown> | SettingsTree): x is Setting<unknown> => typeof (x as Setting<unknown>).env === 'string';
const settingsOf = (tree: SettingsTree): Array<Setting<unknown>> => Object.values(tree).flatMap((x) => (isSetting(x) ? [x] : settingsOf(x)));

/** Every variable the gateway reads, with the NAME_FILE form of each secret. */
export const SETTING_NAMES: readonly string[] = settingsOf(SETTINGS).flatMap((s) => (s.secret ? [s.env, `${s.env}_FILE`] : [s.env]));

/** A secret's value: NAME itself, or the content of the file NAME_FILE names (Docker and Kubernetes secrets). */
function valueOf(s: Setting<unknown>, source: NodeJS.ProcessEnv): string | undefined {
  const direct = source[s.env];
  const file = s.secret ? blankToUndefined(source[`${s.env}_FILE`]) : undefined;
  if (typeof file !== 'string') return direct;
  if (blankToUndefined(direct) !== undefined) throw new ConfigError(`Invalid configuration: ${s.env} and ${s.env}_FILE are both set; set one`);
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${s.env}_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}: ${file})`);
  }
}

function read<T extends SettingsTree>(tree: T, source: NodeJS.ProcessEnv): Read<T> {
  return Object.fromEntries(
    Object.entries(tree).map(([key, node]) => {
      if (!isSetting(node)) return [key, read(node, source)];
      const raw = valueOf(node, source);
      const parsed = node.schema.safeParse(raw);
      if (!parsed.success) {
        const shown = node.secret || raw === undefined ? '' : ` (got "${printable(raw)}")`;
        throw new ConfigError(`Invalid configuration: ${node.env} ${parsed.error.issues[0]!.message}${shown}`);
      }
      return [key, parsed.data];
    }),
  ) as Read<T>;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Buffer.isBuffer(o) && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The gateway's configuration: every setting read and checked, the S3 profile resolved, frozen. */
export type Config = Omit<Raw, 's3'> & {
  readonly s3: Omit<Raw['s3'], 'bucket' | 'overrides'> & {
    readonly bucket: string;
    readonly profile: S3Profile;
  };
};

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;
/** Paths the gateway serves itself: the oauth callback cannot be one of them. */
const OWN_PATHS = /^\/(v2(\/|$)|healthz$|readyz$|metrics$|$)/;

function checkOidc(o: Raw['auth']['oidc'], fail: (line: string) => never): void {
  if (!o.issuer) fail('OIDC_ISSUER is required with AUTH_MODE=oidc (the identity provider’s issuer URL)');
  const issuer = new URL(o.issuer);
  if (issuer.protocol !== 'https:' && !LOOPBACK.test(issuer.hostname)) {
    fail('OIDC_ISSUER must be an https:// URL (plain http only for a provider on this machine; a private CA through NODE_EXTRA_CA_CERTS)');
  }
  if (!o.clientId) fail('OIDC_CLIENT_ID is required with AUTH_MODE=oidc');
  if (Boolean(o.clientSecret) === Boolean(o.privateKeyFile)) {
    fail('AUTH_MODE=oidc needs exactly one of OIDC_CLIENT_SECRET and OIDC_CLIENT_PRIVATE_KEY_FILE');
  }
  if (!o.redirectUrl) fail('OIDC_REDIRECT_URL is required with AUTH_MODE=oidc (the callback URL registered at the provider)');
  const callback = new URL(o.redirectUrl);
  if (OWN_PATHS.test(callback.pathname)) fail('OIDC_REDIRECT_URL must have a path of its own, not /, /v2/…, /healthz, /readyz or /metrics');
  if (callback.search || callback.hash) fail('OIDC_REDIRECT_URL must not have a query or a fragment');
  if (!o.scopes.split(/\s+/).includes('openid')) fail('OIDC_SCOPES must include openid');
  const problem = rootTemplateProblem(o.root);
  if (problem) fail(`OIDC_ROOT ${problem}`);
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const c = read(SETTINGS, source);
  const fail = (line: string) => {
    throw new ConfigError(`Invalid configuration: ${line}`);
  };
  const { s3, auth, redis } = c;
  // People's own S3 keys (s3, pydio), or nobody's but the operator's (users, oidc).
  const ownKeys = auth.mode === 's3' || auth.mode === 'pydio';
  if (s3.endpoint && !ownKeys && (!s3.accessKeyId || !s3.secretAccessKey)) {
    fail(`${s3.accessKeyId ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID'} is required when S3_ENDPOINT is set`);
  }
  if (Boolean(s3.accessKeyId) !== Boolean(s3.secretAccessKey)) {
    fail(`${s3.accessKeyId ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID'} must be set with ${s3.accessKeyId ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY'}`);
  }
  if (auth.mode !== 'users' && redis.url && !auth.credentialsKey) {
    // Every instance must open what another sealed, and sessions outlive a restart.
    fail(`CREDENTIALS_KEY is required with AUTH_MODE=${auth.mode} and REDIS_URL (openssl rand -base64 32)`);
  }
  if (auth.mode === 'pydio' && !s3.endpoint) fail('S3_ENDPOINT is required with AUTH_MODE=pydio (the URL of Pydio Cells)');
  if (auth.mode === 'pydio' && c.transfers.downloadMode === 'redirect') {
    // The access key of a presigned URL is in the URL, and in this mode it is the person's Cells token.
    fail('DOWNLOAD_MODE=redirect cannot be used with AUTH_MODE=pydio: the URL would carry the Cells token');
  }
  if (s3.buckets && auth.mode !== 's3') fail('S3_BUCKETS is only used with AUTH_MODE=s3');
  if (s3.buckets && s3.bucket && !s3.buckets.includes(s3.bucket)) fail(`S3_BUCKET must be one of S3_BUCKETS`);
  if (auth.mode === 'oidc') checkOidc(auth.oidc, fail);
  if (auth.mountsFile && ownKeys) fail(`MOUNTS_FILE is only used with AUTH_MODE=users or oidc (with AUTH_MODE=${auth.mode} people act with their own S3 keys)`);
  if (redis.clusterNodes) {
    if (!redis.url) fail('REDIS_URL is required with REDIS_CLUSTER_NODES (for user, password and TLS; its host is not used)');
    if (redis.sentinels) fail('REDIS_CLUSTER_NODES and REDIS_SENTINELS cannot be used together');
    if (!/^\/?0?$/.test(new URL(redis.url!).pathname)) fail('REDIS_URL must not name a database with REDIS_CLUSTER_NODES (a cluster has only database 0)');
    // The first {…} of a key is its hash tag: braces in the prefix would put every key in one slot.
    if (/[{}]/.test(redis.keyPrefix)) fail('REDIS_KEY_PREFIX must not contain { or } with REDIS_CLUSTER_NODES');
  }
  if (redis.sentinels && !redis.url) fail('REDIS_URL is required with REDIS_SENTINELS (for password and database; its host is not used)');
  if (auth.refreshTokenTtlSec <= auth.accessTokenTtlSec) fail('REFRESH_TOKEN_TTL must be longer than ACCESS_TOKEN_TTL');
  const { overrides, ...rest } = s3;
  return deepFreeze({
    ...c,
    s3: {
      ...rest,
      bucket: s3.bucket ?? s3.buckets?.[0] ?? (auth.mode === 'pydio' ? 'io' : 'gateway'),
      profile: resolveProfile(s3.provider, overrides),
    },
  });
}
