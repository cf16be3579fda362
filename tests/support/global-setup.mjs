import { existsSync } from 'node:fs';
import { findRedisServer, REDIS_HINT, startRedisServer } from './redis-server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_HINT = `no Chromium at ${CHROMIUM} (the oauth sign-in tests drive a real browser): apt-get install chromium, or set CHROMIUM_PATH`;

/** Chromium for the browser tests: as Redis, optional locally (skipped, with a hint), required where CI or REQUIRE_BROWSER=1 is set. */
function findBrowser() {
  if (existsSync(CHROMIUM)) {
    process.env.TEST_CHROMIUM = CHROMIUM;
    return;
  }
  if (process.env.REQUIRE_BROWSER === '1' || process.env.CI) throw new Error(`The browser tests must run here: ${CHROMIUM_HINT}`);
  process.stderr.write(`\n[tests] ${CHROMIUM_HINT}\n[tests] Browser tests are SKIPPED in this run.\n`);
}

/**
 * One redis-server for the whole run (or REDIS_URL). Its URL reaches the test workers through
 * TEST_REDIS_URL. Without redis-server, Redis-backed tests are reported as skipped locally, as the
 * README says, but the run fails where REQUIRE_REDIS=1 or CI is set.
 */
export default async function globalSetup() {
  // The SDK's notice about its future Node 22 requirement, once per worker, says nothing about our tests.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  findBrowser();
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
