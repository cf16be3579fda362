import { randomBytes } from 'node:crypto';

/** Redis the tests may use, when there is one (see global-setup). */
export const testRedisUrl = process.env.TEST_REDIS_URL;

/** `describe` for Redis-backed tests: skipped only where the README says it may be (no redis-server, not CI). */
export const describeWithRedis = testRedisUrl ? describe : describe.skip;

/** Chromium for the tests that drive a browser (tests/support/global-setup.mjs finds it). */
export const testChromium = process.env.TEST_CHROMIUM || undefined;
export const describeWithBrowser = testChromium ? describe : describe.skip;

/** A real S3 server given by S3_TEST_ENDPOINT (+ keys, bucket); absent means the embedded s3rver. */
export const realS3 = process.env.S3_TEST_ENDPOINT
  ? {
      endpoint: process.env.S3_TEST_ENDPOINT,
      accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY ?? '',
      bucket: process.env.S3_TEST_BUCKET ?? 'gateway-test',
      region: process.env.S3_TEST_REGION ?? 'us-east-1',
      provider: process.env.S3_TEST_PROVIDER ?? 'other',
      /** People with S3 keys of their own (S3_TEST_USERS, `name=key:secret,...`), for AUTH_MODE=s3. */
      users: Object.fromEntries(
        (process.env.S3_TEST_USERS ?? '')
          .split(',')
          .filter((u) => u.includes('='))
          .map((u) => {
            const [name, pair] = u.split('=') as [string, string];
            const [accessKeyId, secretAccessKey] = pair.split(':') as [string, string];
            return [name, { accessKeyId, secretAccessKey }];
          }),
      ) as Record<string, { accessKeyId: string; secretAccessKey: string }>,
    }
  : undefined;

/** `describe` for behaviour only a real S3 server shows; the real-S3 run (S3_TEST_ENDPOINT) runs these. */
export const describeWithRealS3 = realS3 ? describe : describe.skip;

/** A key prefix of its own for each Redis-backed test, so runs and files never see each other's keys. */
export function uniquePrefix(label: string): string {
  return `test:${label}:${randomBytes(4).toString('hex')}:`;
}
