import { MemorySessionStore } from '../../src/storage/session-store/memory.js';
import { RedisSessionStore } from '../../src/storage/session-store/redis.js';
import type { SessionStore } from '../../src/storage/session-store/types.js';
import { waitFor } from '../support/processes.js';
import { testRedisUrl, uniquePrefix } from '../support/targets.js';

type Factory = () => Promise<SessionStore>;
const stores: Array<[string, Factory | undefined]> = [
  ['memory', async () => new MemorySessionStore()],
  [
    'redis',
    testRedisUrl
      ? async () => {
          const s = new RedisSessionStore({ url: testRedisUrl!, keyPrefix: uniquePrefix('store'), commandTimeoutMs: 2000 });
          await s.connect();
          return s;
        }
      : undefined,
  ],
];

// The same contract, run against both implementations (Redis only where a redis-server is available).
describe.each(stores.filter(([, f]) => f !== undefined))('session store contract: %s', (_name, factory) => {
  let store: SessionStore;
  beforeEach(async () => {
    store = await factory!();
  });
  afterEach(async () => {
    await store.close();
  });

  it('stores, reads and deletes values', async () => {
    await store.set('a', '1', 10_000);
    await store.set('b', '2', 10_000);
    expect(await store.get('a')).toBe('1');
    await store.delete('a', 'b', 'never-set');
    expect(await store.get('a')).toBeNull();
    expect(await store.get('b')).toBeNull();
  });

  // Lifetimes long enough that a slow machine cannot lose a value before it is read; then polled until gone.
  it('forgets values when their time is up', async () => {
    await store.set('short', 'x', 1500);
    expect(await store.get('short')).toBe('x');
    await waitFor(async () => (await store.get('short')) === null, 'the value to expire', 10_000);
  });

  it('writes set-if-absent only once, and again after expiry', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => store.setIfAbsent('claim', String(n), 1500)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.setIfAbsent('claim', 'too early', 1500)).toBe(false);
    await waitFor(() => store.setIfAbsent('claim', 'again', 1500), 'the claim to expire and be taken again', 10_000);
    expect(await store.get('claim')).toBe('again');
  });

  it('compare-and-set swaps only from the expected value', async () => {
    await store.set('fam', 'v1', 10_000);
    expect(await store.compareAndSet('fam', 'v0', 'v2', 10_000)).toBe(false);
    expect(await store.get('fam')).toBe('v1');
    expect(await store.compareAndSet('fam', 'v1', 'v2', 10_000)).toBe(true);
    expect(await store.get('fam')).toBe('v2');
    expect(await store.compareAndSet('missing', 'v1', 'v2', 10_000)).toBe(false);
    expect(await store.get('missing')).toBeNull();
  });

  it('counts in its rate limiter and refuses past the limit', async () => {
    const limiter = store.rateLimiter({ name: 'rl-test', points: 2, durationSec: 60 });
    await limiter.consume('k');
    await limiter.consume('k');
    await expect(limiter.consume('k')).rejects.toMatchObject({ msBeforeNext: expect.any(Number) });
    await limiter.consume('other');
  });

  it('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
