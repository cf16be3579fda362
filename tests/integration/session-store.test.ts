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
// The lock methods have their own contract, checked against a model: tests/integration/namespace-locks.test.ts.
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

  it('reads several values in one call, in the order of the keys, null where there is none', async () => {
    await store.set('m1', 'one', 10_000);
    await store.set('m3', 'three', 10_000);
    expect(await store.getMany(['m3', 'm2', 'm1', 'm3'])).toEqual(['three', null, 'one', 'three']);
    expect(await store.getMany([])).toEqual([]);
  });

  it('overwrites a value, and its lifetime with it', async () => {
    await store.set('o', 'first', 1500);
    await store.set('o', 'second', 60_000);
    expect(await store.get('o')).toBe('second');
    await store.set('short-lived', 'x', 1500);
    await waitFor(async () => (await store.get('short-lived')) === null, 'the short-lived value to expire', 10_000);
    expect(await store.get('o')).toBe('second'); // its later lifetime held
  });

  it("keeps sets of strings: add, list, remove, and each add renews the whole set's lifetime", async () => {
    expect(await store.setMembers('s')).toEqual([]);
    await store.addToSet('s', 'a', 60_000);
    await store.addToSet('s', 'b', 60_000);
    await store.addToSet('s', 'a', 60_000);
    expect((await store.setMembers('s')).sort()).toEqual(['a', 'b']);
    await store.removeFromSet('s', 'a');
    await store.removeFromSet('s', 'never-added');
    expect(await store.setMembers('s')).toEqual(['b']);
    await store.addToSet('brief', 'x', 1500);
    await waitFor(async () => (await store.setMembers('brief')).length === 0, 'the set to expire', 10_000);
    // a later add gives the whole set the later lifetime: the first member outlives its own
    const added = Date.now();
    await store.addToSet('renewed', 'first', 1500);
    await store.addToSet('renewed', 'second', 60_000);
    await waitFor(() => Date.now() > added + 2500, 'the first lifetime to pass');
    expect((await store.setMembers('renewed')).sort()).toEqual(['first', 'second']);
  });

  it('says what it is: Redis keeps sessions across restarts, the in-process store does not', () => {
    expect(store.durable).toBe(store.kind === 'redis');
  });

  it('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe('the in-process store', () => {
  it('holds no more than its bound, dropping the least recently used first', async () => {
    const maxBytes = 64 * 1024;
    const store = new MemorySessionStore({ maxBytes });
    try {
      await store.set('kept', 'read often', 60_000);
      for (let i = 0; i < 5_000; i++) {
        await store.set(`k${i}`, 'x'.repeat(200), 60_000);
        await store.addToSet('many', `member-${i}`, 60_000);
        if (i % 100 === 0) expect(await store.get('kept')).toBe('read often');
      }
      expect(store.heldBytes).toBeLessThanOrEqual(maxBytes + maxBytes / 4);
      expect(await store.get('k0')).toBeNull();
      expect(await store.get('k4999')).toBe('x'.repeat(200));
      expect(await store.get('kept')).toBe('read often');
    } finally {
      await store.close();
    }
  });
});
