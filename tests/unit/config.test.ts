import { readFileSync } from 'node:fs';
import { ConfigError, configSchema, loadConfig } from '../../src/config.js';

describe('configuration', () => {
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

  it('never echoes a secret it refuses', () => {
    expect(() => loadConfig({ DEMO_PASSWORD: 'short' })).toThrow(/^Invalid configuration: DEMO_PASSWORD must be at least 8 characters$/);
  });

  it('lists every variable in .env.example with its default, and nothing else', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const listed = [...new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!))];
    expect([...listed].sort()).toEqual(Object.keys(configSchema.shape).sort());
    // each variable carries a one-line meaning on the line above it
    for (const name of listed) {
      const line = example.split('\n').findIndex((l) => new RegExp(`^#?\\s*${name}=`).test(l));
      expect(example.split('\n')[line - 1]).toMatch(/^# \S/);
    }
  });
});
