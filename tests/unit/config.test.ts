import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, SETTING_NAMES } from '../../src/config.js';

/** A complete oidc configuration, which each case below breaks in one place. */
const OIDC = {
  AUTH_MODE: 'oidc',
  OIDC_ISSUER: 'https://sso.example.com/realms/staff',
  OIDC_CLIENT_ID: 'gateway',
  OIDC_CLIENT_SECRET: 'client-secret-value',
  OIDC_REDIRECT_URL: 'https://gw.example.com/oauth/callback',
};

describe('configuration', () => {
  it('takes a complete oidc configuration, plain http only for a provider on this machine', () => {
    expect(loadConfig(OIDC).auth.oidc).toMatchObject({ root: 'users/{sub}/', scopes: 'openid email profile offline_access', stateTtlSec: 600 });
    expect(loadConfig({ ...OIDC, OIDC_ISSUER: 'http://127.0.0.1:8081' }).auth.oidc.issuer).toBe('http://127.0.0.1:8081');
    expect(loadConfig({ ...OIDC, OIDC_ISSUER: 'http://localhost:8081/realms/x' }).auth.oidc.issuer).toBe('http://localhost:8081/realms/x');
  });

  it('has working defaults for the embedded demo', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.s3.endpoint).toBeUndefined();
    expect(c.redis.url).toBeUndefined();
    expect(c.auth.accessTokenTtlSec).toBe(3600);
    expect(c.auth.refreshTokenTtlSec).toBe(30 * 24 * 3600);
    expect(c.auth.mode).toBe('users');
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', S3_ENDPOINT: '' }).port).toBe(8080);
  });

  it.each([
    [{ PORT: 'eighty' }, /^Invalid configuration: PORT must be a whole number \(got "eighty"\)$/],
    [{ PORT: '70000' }, /PORT must be at most 65535/],
    [{ ACCESS_TOKEN_TTL: '-5' }, /ACCESS_TOKEN_TTL must be a whole number/],
    [{ S3_ENDPOINT: 'ftp://x' }, /S3_ENDPOINT must be an http/],
    [{ S3_ENDPOINT: 'http://127.0.0.1:9000' }, /S3_ACCESS_KEY_ID is required when S3_ENDPOINT is set/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL must be a redis:\/\//],
    [{ AUTH_MODE: 'oauth' }, /AUTH_MODE must be users/],
    [{ S3_FORCE_PATH_STYLE: 'maybe' }, /S3_FORCE_PATH_STYLE must be true or false/],
    [{ S3_BUCKET: 'Bad_Bucket' }, /S3_BUCKET must be a valid S3 bucket name/],
    [{ UPLOAD_SEGMENT_SIZE: '1024' }, /UPLOAD_SEGMENT_SIZE must be at least 5242880/],
    [{ ACCESS_TOKEN_TTL: '7200', REFRESH_TOKEN_TTL: '3600' }, /REFRESH_TOKEN_TTL must be longer than ACCESS_TOKEN_TTL/],
    [{ S3_PROVIDER: 'ibm' }, /S3_PROVIDER must be one of aws, minio, ceph, wasabi, r2, b2, cells, other/],
    [{ S3_CHECKSUMS: 'always' }, /S3_CHECKSUMS must be when_required or when_supported/],
    [{ S3_MAX_PARTS: '20000' }, /S3_MAX_PARTS must be at most 10000/],
    [{ AUTH_MODE: 's3', REDIS_URL: 'redis://127.0.0.1:6379' }, /CREDENTIALS_KEY is required with AUTH_MODE=s3 and REDIS_URL/],
    [{ AUTH_MODE: 'pydio' }, /S3_ENDPOINT is required with AUTH_MODE=pydio/],
    [{ AUTH_MODE: 'pydio', S3_ENDPOINT: 'https://cells.example.com', DOWNLOAD_MODE: 'redirect' }, /DOWNLOAD_MODE=redirect cannot be used with AUTH_MODE=pydio/],
    [{ S3_BUCKETS: 'a1,b2' }, /S3_BUCKETS is only used with AUTH_MODE=s3/],
    [{ AUTH_MODE: 's3', MOUNTS_FILE: '/etc/gateway/mounts.yaml' }, /MOUNTS_FILE is only used with AUTH_MODE=users or oidc/],
    [{ AUTH_MODE: 's3', S3_BUCKETS: 'team-a,Team B' }, /S3_BUCKETS must be a valid S3 bucket name/],
    [{ S3_ACCESS_KEY_ID: 'AKIA' }, /S3_SECRET_ACCESS_KEY must be set with S3_ACCESS_KEY_ID/],
    [{ REDIS_SENTINELS: 'sentinel-1' }, /REDIS_SENTINELS must be a comma-separated list of host:port/],
    [{ REDIS_SENTINELS: 'sentinel-1:26379' }, /REDIS_URL is required with REDIS_SENTINELS/],
    [{ REDIS_CLUSTER_NODES: 'node-1:6379,node-2' }, /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
    [{ REDIS_CLUSTER_NODES: 'node-1:6379' }, /REDIS_URL is required with REDIS_CLUSTER_NODES/],
    [{ REDIS_CLUSTER_NODES: 'node-1:6379', REDIS_URL: 'redis://node-1:6379/2' }, /REDIS_URL must not name a database with REDIS_CLUSTER_NODES/],
    [{ REDIS_CLUSTER_NODES: 'node-1:6379', REDIS_URL: 'redis://node-1:6379', REDIS_KEY_PREFIX: 'gw{1}:' }, /REDIS_KEY_PREFIX must not contain \{ or \}/],
    [
      { REDIS_CLUSTER_NODES: 'node-1:6379', REDIS_URL: 'redis://node-1:6379', REDIS_SENTINELS: 's:26379' },
      /REDIS_CLUSTER_NODES and REDIS_SENTINELS cannot be used together/,
    ],
    [{ METRICS_PORT: 'nine' }, /METRICS_PORT must be a whole number/],
    [{ AUTH_MODE: 'oidc' }, /OIDC_ISSUER is required with AUTH_MODE=oidc/],
    [{ ...OIDC, OIDC_ISSUER: 'http://sso.example.com' }, /OIDC_ISSUER must be an https:\/\/ URL \(plain http only for a provider on this machine/],
    [{ ...OIDC, OIDC_CLIENT_ID: '' }, /OIDC_CLIENT_ID is required with AUTH_MODE=oidc/],
    [{ ...OIDC, OIDC_CLIENT_SECRET: '' }, /needs exactly one of OIDC_CLIENT_SECRET and OIDC_CLIENT_PRIVATE_KEY_FILE/],
    [{ ...OIDC, OIDC_CLIENT_PRIVATE_KEY_FILE: '/etc/key.pem' }, /needs exactly one of OIDC_CLIENT_SECRET and OIDC_CLIENT_PRIVATE_KEY_FILE/],
    [{ ...OIDC, OIDC_REDIRECT_URL: '' }, /OIDC_REDIRECT_URL is required with AUTH_MODE=oidc/],
    [{ ...OIDC, OIDC_REDIRECT_URL: 'https://gw.example.com/v2/gateway_auth' }, /OIDC_REDIRECT_URL must have a path of its own/],
    [{ ...OIDC, OIDC_REDIRECT_URL: 'https://gw.example.com/' }, /OIDC_REDIRECT_URL must have a path of its own/],
    [{ ...OIDC, OIDC_REDIRECT_URL: 'https://gw.example.com/cb?x=1' }, /OIDC_REDIRECT_URL must not have a query/],
    [{ ...OIDC, OIDC_SCOPES: 'email profile' }, /OIDC_SCOPES must include openid/],
    [{ ...OIDC, OIDC_ROOT: 'users/{name}/' }, /OIDC_ROOT may use only \{sub\}/],
    [{ ...OIDC, OIDC_STATE_TTL: '1' }, /OIDC_STATE_TTL must be at least 5/],
    [{ ...OIDC, REDIS_URL: 'redis://127.0.0.1:6379' }, /CREDENTIALS_KEY is required with AUTH_MODE=oidc and REDIS_URL/],
  ])('refuses %j with one line naming the variable', (env, message) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('takes the provider profile, with each setting overridable', () => {
    expect(loadConfig({}).s3.profile).toMatchObject({ forcePathStyle: true, checksums: 'WHEN_REQUIRED', bulkDelete: true, paginates: true });
    const aws = loadConfig({ S3_PROVIDER: 'aws' }).s3.profile;
    expect(aws).toMatchObject({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED', conditionalWrites: 'all' });
    // Ceph RGW honours If-None-Match on PUT only, and reads copy conditions under its own header name
    expect(loadConfig({ S3_PROVIDER: 'ceph' }).s3.profile).toMatchObject({ conditionalWrites: 'put', legacyCopyConditions: true });
    expect(loadConfig({ S3_PROVIDER: 'ceph', S3_CONDITIONAL_WRITES: 'false', S3_LEGACY_COPY_CONDITIONS: 'false' }).s3.profile).toMatchObject({
      conditionalWrites: 'none',
      legacyCopyConditions: false,
    });
    expect(loadConfig({ S3_CONDITIONAL_WRITES: 'true' }).s3.profile.conditionalWrites).toBe('all');
    expect(loadConfig({ S3_CONDITIONAL_WRITES: 'put' }).s3.profile.conditionalWrites).toBe('put');
    expect(() => loadConfig({ S3_CONDITIONAL_WRITES: 'maybe' })).toThrow('S3_CONDITIONAL_WRITES must be true, false or put');
    const cells = loadConfig({ S3_PROVIDER: 'cells', S3_BULK_DELETE: 'true', S3_CHECKSUMS: 'when_supported' }).s3.profile;
    expect(cells).toMatchObject({
      bulkDelete: true,
      checksums: 'WHEN_SUPPORTED',
      copyToSelf: false,
      paginates: false,
      readAfterWrite: false,
      headFolders: false,
    });
    expect(loadConfig({ MULTIPART_COPY_THRESHOLD: String(64 * 1024 * 1024) }).s3.profile.multipartCopyCutoff).toBe(64 * 1024 * 1024);
  });

  it('serves io by default in pydio mode and keeps the operator keys optional outside users mode', () => {
    const c = loadConfig({ AUTH_MODE: 'pydio', S3_ENDPOINT: 'https://cells.example.com' });
    expect(c.s3.bucket).toBe('io');
    expect(c.s3.accessKeyId).toBeUndefined();
    const s3 = loadConfig({ AUTH_MODE: 's3', S3_ENDPOINT: 'http://minio:9000', S3_BUCKETS: 'team-a, team-b' });
    expect([s3.s3.bucket, s3.s3.buckets]).toEqual(['team-a', ['team-a', 'team-b']]);
  });

  it('never echoes a secret it refuses', () => {
    expect(() => loadConfig({ CREDENTIALS_KEY: 'c2hvcnQ=' })).toThrow(
      /^Invalid configuration: CREDENTIALS_KEY must be 32 random bytes in base64 \(openssl rand -base64 32\)$/,
    );
    expect(() => loadConfig({ DEMO_PASSWORD: 'short' })).toThrow(/^Invalid configuration: DEMO_PASSWORD must be at least 8 characters$/);
  });

  it('never echoes the user info of a URL it refuses, in any setting', () => {
    const leaks = [
      { S3_ENDPOINT: 'ftp://admin:s3cr3t-pw@minio:9000' },
      { S3_ENDPOINT: 'http://admin:s3cr3t-pw@minio:9000' },
      { REDIS_URL: 'http://:s3cr3t-pw@redis:6379' },
      { CORS_ORIGINS: 'https://ok.example, ftp://u:s3cr3t-pw@bad example' },
      { TRUST_PROXY: 'x://s3cr3t-pw@', PORT: 'redis://:s3cr3t-pw@host' },
    ];
    for (const env of leaks) {
      let message = '';
      try {
        loadConfig(env);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^Invalid configuration: [A-Z0-9_]+ /);
      expect(message).not.toContain('s3cr3t-pw');
    }
    expect(() => loadConfig({ S3_ENDPOINT: 'http://admin:s3cr3t-pw@minio:9000' })).toThrow(
      /^Invalid configuration: S3_ENDPOINT must not carry a user name or password \(use S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY\) \(got "http:\/\/…@minio:9000"\)$/,
    );
  });

  it('reads a secret from NAME_FILE (a Docker or Kubernetes secret), refusing both forms at once and an unreadable file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'config-'));
    try {
      const file = path.join(dir, 'secret');
      writeFileSync(file, 'from-a-file-0123\n');
      const env = { S3_ENDPOINT: 'http://minio:9000', S3_ACCESS_KEY_ID: 'AKIA', S3_SECRET_ACCESS_KEY_FILE: file };
      expect(loadConfig(env).s3.secretAccessKey).toBe('from-a-file-0123');
      expect(() => loadConfig({ ...env, S3_SECRET_ACCESS_KEY: 'also-here' })).toThrow(
        /^Invalid configuration: S3_SECRET_ACCESS_KEY and S3_SECRET_ACCESS_KEY_FILE are both set; set one$/,
      );
      expect(() => loadConfig({ ...env, S3_SECRET_ACCESS_KEY_FILE: path.join(dir, 'missing') })).toThrow(
        /^Invalid configuration: S3_SECRET_ACCESS_KEY_FILE cannot be read \(ENOENT: /,
      );
      writeFileSync(file, 'short\n');
      expect(() => loadConfig({ DEMO_PASSWORD_FILE: file })).toThrow(/^Invalid configuration: DEMO_PASSWORD must be at least 8 characters$/);
      // only secrets come from files
      expect(SETTING_NAMES).toContain('CREDENTIALS_KEY_FILE');
      expect(SETTING_NAMES).not.toContain('PORT_FILE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is frozen, all the way down', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c) && Object.isFrozen(c.s3) && Object.isFrozen(c.s3.profile) && Object.isFrozen(c.auth.signInThrottle)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('lists every variable in .env.example with its default, and nothing else', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const listed = [...new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!))];
    expect([...listed].sort()).toEqual([...SETTING_NAMES].sort());
    // each variable carries a one-line meaning on the line above it
    for (const name of listed) {
      const line = example.split('\n').findIndex((l) => new RegExp(`^#?\\s*${name}=`).test(l));
      expect(example.split('\n')[line - 1]).toMatch(/^# \S/);
    }
  });
});
