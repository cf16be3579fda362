import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Express } from 'express';
import { ConfigError, type Config } from './config.js';
import { importPKCS8 } from 'jose';
import { AccountDirectory, loadAccountsFile, userRecord, type UserRecord } from './core/auth/accounts.js';
import { reloadOnChange } from './core/auth/users-file-reload.js';
import { loadMountsFile, type EndpointDefinition, type MountsFile } from './core/mounts/mounts-file.js';
import { MountTable, type Mount } from './core/mounts/mount-table.js';
import { Namespace } from './core/mounts/namespace.js';
import { resolveProfile } from './storage/s3/profiles.js';
import { CellsSignIn } from './core/auth/cells-sign-in.js';
import { CredentialSeal } from './core/auth/credential-seal.js';
import { hashPassword } from './core/auth/passwords.js';
import { PasswordSignIn } from './core/auth/password-sign-in.js';
import { RequestLimit } from './core/auth/request-limit.js';
import { S3KeySignIn } from './core/auth/s3-key-sign-in.js';
import { SessionService } from './core/auth/sessions.js';
import { SignInService, type SignInMethod } from './core/auth/sign-in.js';
import { SignInThrottle } from './core/auth/throttle.js';
import { BucketFileSystem } from './core/file-system.js';
import { MetadataCache } from './core/metadata-cache.js';
import { NamespaceLocks } from './core/namespace-locks.js';
import { FolderJobs } from './core/folder-jobs/jobs.js';
import { DownloadService } from './core/transfers/downloads.js';
import { ThumbnailService } from './core/transfers/thumbnails.js';
import { MultipartRegistry } from './core/transfers/multipart-registry.js';
import { OidcSignIn } from './core/auth/oidc/oidc-sign-in.js';
import { RelyingParty, type ClientCredential } from './core/auth/oidc/relying-party.js';

type OidcClientKey = Extract<ClientCredential, { privateKey: unknown }>['privateKey'];
import { UploadCommits } from './core/transfers/object-commit.js';
import { SegmentedUploads } from './core/transfers/segmented-uploads.js';
import { StreamedUploads } from './core/transfers/streamed-uploads.js';
import type { GatewayServices, ReadinessReport } from './core/services.js';
import { createApp } from './http/app.js';
import { registerSecret, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { S3Bucket, type BucketOptions } from './storage/s3/bucket.js';
import { BucketPool } from './storage/s3/bucket-pool.js';
import { createS3Client, type S3ClientOptions } from './storage/s3/client.js';
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
  /** The bucket with the operator's keys: always in users mode; in the other modes only when S3_ACCESS_KEY_ID is set. */
  bucket: S3Bucket | undefined;
  embeddedS3: EmbeddedS3 | undefined;
  demo: DemoAccount | undefined;
  /** Present when METRICS_ENABLED. */
  metrics: Metrics | undefined;
  /** The write ordering of this instance (how many of its writes wait, for tests and metrics). */
  locks: NamespaceLocks;
  /** Folder renames, moves and deletes under way. */
  folderJobs: FolderJobs;
  /** The multipart uploads this gateway has open, and their orphan sweep. */
  multipartRegistry: MultipartRegistry;
  /** Re-reads USERS_FILE and MOUNTS_FILE now (SIGHUP); nothing without them. */
  reloadAccounts(): Promise<void>;
  close(): Promise<void>;
}

async function openStore(config: Config): Promise<SessionStore> {
  if (!config.redis.url) return new MemorySessionStore({ maxBytes: config.memoryStoreMaxBytes });
  const store = new RedisSessionStore({ ...config.redis, url: config.redis.url });
  try {
    await store.connect();
  } catch (err) {
    await store.close();
    const setting = config.redis.clusterNodes ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
    throw new Error(`${setting}: cannot connect to Redis (${(err as Error).message})`, { cause: err });
  }
  return store;
}

async function demoAccount(config: Config): Promise<{ record: UserRecord; demo: DemoAccount }> {
  const generated = config.auth.demoPassword === undefined;
  const password = config.auth.demoPassword ?? randomBytes(12).toString('base64url');
  const record = userRecord({ name: 'demo', passwordHash: await hashPassword(password), root: '', readOnly: false });
  // Each instance salts the demo password afresh: its version must not depend on the hash, or a session
  // started on one instance would read as changed on the next.
  record.version = 'demo';
  return { record, demo: { name: 'demo', password, generated } };
}

/** Any HTTP answer from the endpoint: whether S3 is reachable when the gateway holds no keys of its own. */
async function reachable(endpoint: string, timeoutMs: number): Promise<void> {
  try {
    const res = await fetch(endpoint, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
  } catch (err) {
    throw new Error(`S3 endpoint does not answer (${(err as Error).name})`, { cause: err });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** What is opened along the way, closed in reverse when the runtime closes (or fails to build). */
class Opened {
  private readonly closers: Array<() => Promise<void>> = [];

  add(close: () => Promise<void> | void): void {
    this.closers.push(async () => close());
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close().catch(() => undefined);
  }
}

/** The S3 the gateway serves: the operator's endpoint or the embedded server, and how to reach it. */
interface S3Wiring {
  endpoint: string;
  embeddedS3: EmbeddedS3 | undefined;
  /** For clients made later with people's own keys. */
  clientOptions: Omit<S3ClientOptions, 'accessKeyId' | 'secretAccessKey'>;
  bucketOptions: BucketOptions;
  /** The bucket with the operator's keys, where there are any. */
  bucket: S3Bucket | undefined;
}

async function openS3(config: Config, logger: Logger, metrics: Metrics | undefined, opened: Opened): Promise<S3Wiring> {
  const ownKeys = config.auth.mode !== 'users';
  let embeddedS3: EmbeddedS3 | undefined;
  if (!config.s3.endpoint) {
    // With people's own keys the embedded server checks signatures, so a wrong key is refused as S3 would.
    const { accessKeyId, secretAccessKey } = EMBEDDED_CREDENTIALS;
    const keys = ownKeys ? (id: string) => (id === accessKeyId ? { secret: secretAccessKey, readOnly: false } : undefined) : undefined;
    const started = await startEmbeddedS3(config.dataDir, { keys });
    opened.add(() => started.close());
    embeddedS3 = started;
  }
  const endpoint = config.s3.endpoint ?? embeddedS3!.endpoint;
  const profile = embeddedS3 ? { ...config.s3.profile, forcePathStyle: true } : config.s3.profile;
  const clientOptions = {
    endpoint,
    region: config.s3.region,
    forcePathStyle: profile.forcePathStyle,
    checksums: profile.checksums,
    maxAttempts: config.s3.maxAttempts,
    maxSockets: config.s3.maxSockets,
    connectTimeoutMs: config.s3.connectTimeoutMs,
    requestTimeoutMs: config.s3.requestTimeoutMs,
    legacyCopyConditions: profile.legacyCopyConditions,
    logger,
    ...(metrics ? { onCall: metrics.s3Call.bind(metrics) } : {}),
  };
  const bucketOptions: BucketOptions = {
    profile,
    multipartCopyPartSize: config.files.multipartCopyPartSize,
    deleteConcurrency: config.files.deleteConcurrency,
  };
  const operatorKeys = config.s3.accessKeyId
    ? { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey! }
    : embeddedS3
      ? EMBEDDED_CREDENTIALS
      : undefined;
  const bucket = operatorKeys ? new S3Bucket(createS3Client({ ...clientOptions, ...operatorKeys }), config.s3.bucket, bucketOptions) : undefined;
  if (bucket) opened.add(() => bucket.destroy());
  if (embeddedS3) {
    for (const name of config.s3.buckets ?? [config.s3.bucket]) await new S3Bucket(bucket!.client, name, bucketOptions).ensureExists();
  }
  return { endpoint, embeddedS3, clientOptions, bucketOptions, bucket };
}

/** MOUNTS_FILE as the gateway serves it: the table of mounts, their buckets by scope, and the file's home template. */
interface MountWiring {
  table: MountTable;
  home: () => string | undefined;
  bucketByScope: (scope: string) => S3Bucket | undefined;
  /** Per endpoint used by a mount: whether its buckets answer (for /readyz). */
  check(timeoutMs: number): Promise<Record<string, string>>;
  reread(): Promise<number>;
}

async function openMounts(config: Config, s3: S3Wiring, logger: Logger, metrics: Metrics | undefined, opened: Opened): Promise<MountWiring | undefined> {
  const file = config.auth.mountsFile;
  if (!file) return undefined;
  const buckets = new Map<string, S3Bucket>();
  const clients = new Map<string, ReturnType<typeof createS3Client>>();
  opened.add(() => {
    for (const b of buckets.values()) if (b.server !== '') b.destroy();
  });
  // One client per endpoint definition (a changed definition gets a new one), one bucket per scope.
  const clientFor = (e: EndpointDefinition) => {
    const id = JSON.stringify(e);
    let client = clients.get(id);
    if (!client) {
      const profile = resolveProfile(e.provider, {});
      registerSecret(e.secretAccessKey);
      client = createS3Client({
        ...s3.clientOptions,
        endpoint: e.url,
        region: e.region,
        forcePathStyle: profile.forcePathStyle,
        checksums: profile.checksums,
        legacyCopyConditions: profile.legacyCopyConditions,
        accessKeyId: e.accessKeyId,
        secretAccessKey: e.secretAccessKey,
        ...(metrics ? { onCall: (op: string, outcome: string, sec: number) => metrics.s3Call(op, outcome, sec, e.name) } : {}),
      });
      clients.set(id, client);
    }
    return { client, profile: resolveProfile(e.provider, {}) };
  };
  const build = async (read: MountsFile): Promise<Mount[]> => {
    const mounts: Mount[] = [];
    for (const m of read.mounts) {
      const e = m.endpoint === undefined ? undefined : read.endpoints.get(m.endpoint)!;
      const scope = e ? `${e.name}/${m.bucket}` : m.bucket;
      let bucket = buckets.get(scope);
      if (!bucket || (e && bucket.client !== clientFor(e).client)) {
        if (e) {
          const { client, profile } = clientFor(e);
          bucket = new S3Bucket(client, m.bucket, { ...s3.bucketOptions, profile }, e.name);
        } else {
          bucket = new S3Bucket(s3.bucket!.client, m.bucket, s3.bucketOptions);
          if (s3.embeddedS3) await bucket.ensureExists();
        }
        buckets.set(scope, bucket);
      }
      mounts.push({ name: m.name, bucket, prefix: m.prefix, readOnly: m.readOnly, users: new Set(m.users), groups: new Set(m.groups) });
    }
    return mounts;
  };
  const load = () => loadMountsFile(file, config.s3.bucket);
  let current = await load();
  const table = new MountTable(await build(current));
  return {
    table,
    home: () => current.home,
    bucketByScope: (scope) => buckets.get(scope),
    async check(timeoutMs) {
      const byEndpoint = new Map<string, S3Bucket[]>();
      for (const m of table.all()) {
        const name = m.bucket.server === '' ? 'default' : m.bucket.server;
        byEndpoint.set(name, [...(byEndpoint.get(name) ?? []), m.bucket as S3Bucket]);
      }
      const checks: Record<string, string> = {};
      await Promise.all(
        [...byEndpoint].map(async ([name, list]) => {
          try {
            await Promise.all([...new Set(list)].map((b) => withTimeout(b.check(), timeoutMs, `endpoint ${name}`)));
            checks[`mounts:${name}`] = 'ok';
          } catch (err) {
            checks[`mounts:${name}`] = err instanceof Error ? err.message : String(err);
          }
        }),
      );
      return checks;
    },
    async reread() {
      const next = await load();
      table.replace(await build(next));
      current = next;
      logger.debug('mounts file read', { mounts: table.size });
      return table.size;
    },
  };
}

/** The private key of OIDC_CLIENT_PRIVATE_KEY_FILE (PKCS#8 PEM), with the JWS algorithm its type calls for. */
export async function readClientKey(file: string): Promise<OidcClientKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Invalid configuration: OIDC_CLIENT_PRIVATE_KEY_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const k = createPrivateKey(pem);
    const curve = k.asymmetricKeyDetails?.namedCurve;
    const alg =
      k.asymmetricKeyType === 'rsa'
        ? 'RS256'
        : k.asymmetricKeyType === 'ed25519'
          ? 'EdDSA'
          : curve === 'prime256v1'
            ? 'ES256'
            : curve === 'secp384r1'
              ? 'ES384'
              : undefined;
    if (!alg) throw new Error('an RSA, P-256, P-384 or Ed25519 key is needed');
    return await importPKCS8(k.export({ format: 'pem', type: 'pkcs8' }).toString(), alg);
  } catch (err) {
    throw new ConfigError(
      `Invalid configuration: OIDC_CLIENT_PRIVATE_KEY_FILE is not a usable private key (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

/** The AUTH_MODE's way of signing in, and the demo account when the users mode has no users file. */
async function openSignInMethod(
  config: Config,
  s3: S3Wiring,
  throttle: SignInThrottle,
  store: SessionStore,
  opened: Opened,
  logger: Logger,
  mounts: MountWiring | undefined,
  accountsChanged: () => void,
): Promise<{ method: SignInMethod; demo: DemoAccount | undefined; reloadAccounts?: () => Promise<void> }> {
  if (config.auth.mode === 'oidc') {
    const o = config.auth.oidc;
    const rp = new RelyingParty({
      issuer: new URL(o.issuer!),
      clientId: o.clientId!,
      credential: o.clientSecret ? { secret: o.clientSecret } : { privateKey: await readClientKey(o.privateKeyFile!), keyId: o.keyId },
      redirectUrl: new URL(o.redirectUrl!),
      scopes: o.scopes,
      timeoutSec: o.timeoutSec,
    });
    const seal = new CredentialSeal(config.auth.credentialsKey ?? randomBytes(32));
    const rules = { rootTemplate: o.root, groupsClaim: o.groupsClaim, allowedGroups: o.allowedGroups ?? [], readOnlyGroups: o.readOnlyGroups ?? [] };
    const method = new OidcSignIn(rp, store, seal, s3.bucket!, throttle, logger, {
      issuer: o.issuer!,
      rules,
      stateTtlMs: o.stateTtlSec * 1000,
      keepWithoutRefreshToken: o.keepWithoutRefreshToken,
    });
    return { method, demo: undefined };
  }
  if (config.auth.mode === 'users') {
    const file = config.auth.usersFile;
    if (file) {
      const read = () => loadAccountsFile(file, mounts?.home());
      const directory = new AccountDirectory(await read(), s3.bucket!);
      const apply = async () => {
        directory.replace(await read());
        accountsChanged();
        return { message: 'sessions of changed or removed accounts end', fields: { users: directory.size } };
      };
      const watch = reloadOnChange(file, apply, { intervalSec: config.auth.usersFileCheckSec, logger, what: 'users file' });
      opened.add(() => watch.stop());
      return { method: await PasswordSignIn.create(directory, throttle, config.auth.signInQueueSize), demo: undefined, reloadAccounts: watch.reload };
    }
    const d = await demoAccount(config);
    return { method: await PasswordSignIn.create(new AccountDirectory([d.record], s3.bucket!), throttle, config.auth.signInQueueSize), demo: d.demo };
  }
  const pool = new BucketPool(s3.clientOptions, s3.bucketOptions, config.s3.clientCacheSize);
  opened.add(() => pool.close());
  // Without Redis, sessions end with the process, so a key made now is enough (config asks for one with Redis).
  const seal = new CredentialSeal(config.auth.credentialsKey ?? randomBytes(32));
  const method =
    config.auth.mode === 's3'
      ? new S3KeySignIn(pool, seal, throttle, { endpoint: s3.endpoint, bucket: config.s3.bucket, buckets: config.s3.buckets })
      : new CellsSignIn(pool, seal, throttle, {
          endpoint: s3.endpoint,
          bucket: config.s3.bucket,
          secret: config.auth.pydioSecret,
          marginSec: config.auth.pydioTokenMarginSec,
        });
  return { method, demo: undefined };
}

/** /readyz: S3 (the bucket with the operator's keys, else any answer from the endpoint) and the session store. */
function readinessCheck(config: Config, s3: S3Wiring, store: SessionStore, mounts: MountWiring | undefined): () => Promise<ReadinessReport> {
  return async () => {
    const checks: Record<string, string> = {};
    const probe = async (name: string, check: () => Promise<void>) => {
      try {
        await withTimeout(check(), config.readyTimeoutMs, name);
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = err instanceof Error ? err.message : String(err);
      }
    };
    const bucket = s3.bucket;
    const s3Check = bucket ? () => bucket.check() : () => reachable(s3.endpoint, config.readyTimeoutMs);
    const [, , mountChecks] = await Promise.all([probe('s3', s3Check), probe('sessionStore', () => store.ping()), mounts?.check(config.readyTimeoutMs)]);
    const ready = Object.values(checks).every((c) => c === 'ok');
    // An endpoint that only mounts use makes only those mounts fail (503 there): the instance stays ready.
    return { ready, checks: { ...checks, ...mountChecks } };
  };
}

/** Builds every part of the gateway from its configuration; `close()` releases them in reverse. */
export async function buildRuntime(config: Config, logger: Logger): Promise<Runtime> {
  registerSecret(config.s3.secretAccessKey);
  registerSecret(config.auth.demoPassword);
  registerSecret(config.auth.pydioSecret);
  registerSecret(config.auth.oidc.clientSecret);
  registerSecret(config.auth.credentialsKey?.toString('base64'));
  await mkdir(config.dataDir, { recursive: true });

  const opened = new Opened();
  try {
    const metrics = config.metrics.enabled ? new Metrics() : undefined;
    const s3 = await openS3(config, logger, metrics, opened);
    const store = await openStore(config);
    opened.add(() => store.close());
    const mounts = await openMounts(config, s3, logger, metrics, opened);
    // Set once the sessions exist: a re-read users file makes them look their accounts up again.
    let accountsChanged = () => undefined as void;
    const signInMethod = await openSignInMethod(config, s3, new SignInThrottle(store, config.auth.signInThrottle), store, opened, logger, mounts, () =>
      accountsChanged(),
    );
    const { method, demo } = signInMethod;
    let reloadAccounts = signInMethod.reloadAccounts;
    if (mounts) {
      const reloadUsers = reloadAccounts;
      const apply = async () => {
        const size = await mounts.reread();
        // The home template is the users file's business too.
        await reloadUsers?.();
        return { message: 'mounts revoked in it are gone for every session', fields: { mounts: size } };
      };
      const watch = reloadOnChange(config.auth.mountsFile!, apply, { intervalSec: config.auth.usersFileCheckSec, logger, what: 'mounts file' });
      opened.add(() => watch.stop());
      reloadAccounts = async () => {
        await watch.reload();
      };
    }

    const sessions = new SessionService(store, method, {
      accessSec: config.auth.accessTokenTtlSec,
      refreshSec: config.auth.refreshTokenTtlSec,
      maxAgeSec: config.auth.sessionMaxAgeSec,
      cacheMs: config.auth.sessionCacheMs,
    });
    accountsChanged = () => sessions.forgetRecent();
    const cache = new MetadataCache(store, config.files.metadataCacheTtlSec * 1000);
    const locks = new NamespaceLocks(store, config.locks, metrics?.locks);
    const t = config.transfers;
    const registry = new MultipartRegistry(
      method,
      store,
      logger,
      (familyId) => sessions.hasEnded(familyId),
      (scope) => mounts?.bucketByScope(scope),
    );
    const jobs = new FolderJobs(
      store,
      locks,
      cache,
      logger,
      { ...config.folderJobs, copyConcurrency: config.files.copyConcurrency, takeoverEveryMs: Math.max(1000, config.locks.leaseMs / 2) },
      async (principal, scope) => {
        const account = await method.resolve(principal);
        return account?.bucket.scope === scope ? account.bucket : mounts?.bucketByScope(scope);
      },
    );
    const files = new BucketFileSystem(
      cache,
      store,
      locks,
      registry,
      {
        ...config.files,
        streamPartSize: t.partSize,
        streamQueueSize: t.queueSize,
        streamLeaseMs: t.streamLeaseSec * 1000,
        streamedCopies: t.mountCopyStreams,
      },
      jobs,
    );
    const takeover = jobs.startTakeover();
    opened.add(async () => {
      takeover.stop();
      await jobs.stop();
    });
    const commits = new UploadCommits(files, cache, logger);
    const sweeper = registry.startSweeping(t.sweepIntervalSec);
    opened.add(() => sweeper.stop());
    await sweeper.firstRun;

    const services: GatewayServices = {
      signIn: new SignInService(method, sessions),
      requestLimit: new RequestLimit(store, config.rateLimit),
      sessions,
      files: new Namespace(
        mounts?.table,
        files,
        new StreamedUploads(files, commits, registry, {
          partSize: t.partSize,
          queueSize: t.queueSize,
          streamLeaseMs: t.streamLeaseSec * 1000,
          maxPerAccount: t.streamsPerAccount,
          maxInAll: t.streamsMax,
        }),
        new SegmentedUploads(files, commits, registry, store, {
          segmentSize: config.uploadSegmentSize,
          sessionTtlMs: t.sessionTtlSec * 1000,
          maxOpenPerAccount: t.segmentedOpenPerAccount,
        }),
        new DownloadService({ mode: t.downloadMode, urlTtlSec: t.downloadUrlTtlSec }, cache),
        new ThumbnailService({
          size: t.thumbnailSize,
          maxSourceBytes: t.thumbnailMaxSourceBytes,
          cacheBytes: t.thumbnailCacheBytes,
          concurrency: t.thumbnailConcurrency,
          queueSize: t.thumbnailQueueSize,
        }),
      ),
      uploadSegmentSize: config.uploadSegmentSize,
      readiness: readinessCheck(config, s3, store, mounts),
    };
    const app = createApp({
      services,
      logger,
      maxJsonBodyBytes: config.limits.maxJsonBodyBytes,
      maxUploadPlanBytes: config.limits.maxUploadPlanBytes,
      bodyIdleTimeoutMs: config.limits.bodyIdleTimeoutMs,
      trustProxy: config.trustProxy,
      corsOrigins: config.corsOrigins,
      ...(metrics ? { metrics, serveMetrics: config.metrics.port === undefined } : {}),
      oauthCallbackPath: config.auth.mode === 'oidc' ? new URL(config.auth.oidc.redirectUrl!).pathname : undefined,
    });
    return {
      config,
      app,
      services,
      store,
      bucket: s3.bucket,
      embeddedS3: s3.embeddedS3,
      demo,
      metrics,
      locks,
      folderJobs: jobs,
      multipartRegistry: registry,
      reloadAccounts: reloadAccounts ?? (async () => undefined),
      close: () => opened.closeAll(),
    };
  } catch (err) {
    await opened.closeAll();
    throw err;
  }
}
