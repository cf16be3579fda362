import { findRedisServer, REDIS_HINT, startRedisServer } from './redis-server.mjs';

/**
 * One redis-server for the whole run (or REDIS_URL). Its URL reaches the test workers through
 * TEST_REDIS_URL. Without redis-server, Redis-backed tests are reported as skipped locally, as the
 * README says, but the run fails where REQUIRE_REDIS=1 or CI is set.
 */
export default async function globalSetup() {
  // The SDK's notice about its future Node 22 requirement, once per worker, says nothing about our tests.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (process.env.REDIS_URL) {
    process.env.TEST_REDIS_URL = process.env.REDIS_URL;
    return;
  }
  const bin = findRedisServer();
  if (!bin) {
    if (process.env.REQUIRE_REDIS === '1' || process.env.CI) throw new Error(`Redis-backed tests must run here: ${REDIS_HINT}`);
    process.stderr.write(`\n[tests] ${REDIS_HINT}\n[tests] Redis-backed tests are SKIPPED in this run.\n`);
    return;
  }
  globalThis.__testRedis = await startRedisServer(bin);
  process.env.TEST_REDIS_URL = globalThis.__testRedis.url;
}
