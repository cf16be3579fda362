import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { storeUnavailable } from '../../core/errors.js';
import type { SessionStore } from './types.js';

// SET only if the key still holds the expected value: the atomic step behind token rotation.
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

export interface RedisStoreOptions {
  url: string;
  /** Redis Sentinel: the master named `sentinelName` is found through these. */
  sentinels?: Array<{ host: string; port: number }> | undefined;
  sentinelName?: string;
  keyPrefix: string;
  commandTimeoutMs: number;
}

/** Sessions, refresh families and counters in Redis, shared by every gateway instance. */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis' as const;
  readonly durable = true;
  readonly client: Redis;

  constructor(opts: RedisStoreOptions) {
    this.client = new Redis(opts.url, {
      ...(opts.sentinels ? { sentinels: opts.sentinels, name: opts.sentinelName ?? 'mymaster' } : {}),
      keyPrefix: opts.keyPrefix,
      lazyConnect: true,
      // Commands issued in the same tick (cache fills, token writes) share one round trip.
      enableAutoPipelining: true,
      // Fail fast while Redis is away (callers answer 503) instead of queueing requests without bound.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: opts.commandTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    // Connection errors are reported through failed commands (503) and /readyz; without a listener
    // ioredis would print them to stderr itself.
    this.client.on('error', () => undefined);
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  get(key: string) {
    return this.run(() => this.client.get(key));
  }

  async getMany(keys: string[]) {
    if (keys.length === 0) return [];
    return this.run(() => this.client.mget(...keys));
  }

  async set(key: string, value: string, ttlMs: number) {
    await this.run(() => this.client.set(key, value, 'PX', ttlMs));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number) {
    const r = await this.run(() => this.client.set(key, value, 'PX', ttlMs, 'NX'));
    return r === 'OK';
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs: number) {
    const r = await this.run(() => this.client.eval(COMPARE_AND_SET, 1, key, expected, value, String(ttlMs)));
    return r === 1;
  }

  async delete(...keys: string[]) {
    if (keys.length) await this.run(() => this.client.del(...keys));
  }

  async addToSet(key: string, member: string, ttlMs: number) {
    await this.run(() => this.client.multi().sadd(key, member).pexpire(key, ttlMs).exec());
  }

  setMembers(key: string) {
    return this.run(() => this.client.smembers(key));
  }

  async removeFromSet(key: string, member: string) {
    await this.run(() => this.client.srem(key, member));
  }

  rateLimiter(opts: { name: string; points: number; durationSec: number }) {
    return new RateLimiterRedis({
      storeClient: this.client,
      keyPrefix: opts.name,
      points: opts.points,
      duration: opts.durationSec,
    });
  }

  async ping() {
    await this.run(() => this.client.ping());
  }

  async close() {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
