import { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { storeUnavailable } from '../../errors.js';
import type { LockNode, SessionStore } from './types.js';

// SET only if the key still holds the expected value: the atomic step behind token rotation.
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

// A lock node is two keys: its exclusive holder (a string: the holder's fencing token, expiring with the
// lease) and its shared holders (a sorted set of tokens scored by lease end, in ms of Redis' own clock, so
// instances with skewed clocks agree). Checking a node costs O(log n) however many share it. KEYS[1] is
// the scope's fencing counter, then each node's exclusive and shared key; ARGV[1] is the lease in ms, then
// the mode wanted on each node.
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const ACQUIRE_LOCKS = `${NOW}
local ttl = tonumber(ARGV[1])
local nodes = (#KEYS - 1) / 2
for i = 1, nodes do
  local x, s = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('EXISTS', x) == 1 then return 0 end
  if ARGV[i + 1] == 'X' then
    redis.call('ZREMRANGEBYSCORE', s, '-inf', now)
    if redis.call('ZCARD', s) > 0 then return 0 end
  end
end
local token = redis.call('INCR', KEYS[1])
for i = 1, nodes do
  local x, s = KEYS[2 * i], KEYS[2 * i + 1]
  if ARGV[i + 1] == 'X' then
    redis.call('SET', x, token, 'PX', ttl)
  else
    redis.call('ZADD', s, now + ttl, token)
    if redis.call('PTTL', s) < ttl then redis.call('PEXPIRE', s, ttl) end
  end
end
return token`;
// KEYS: each node's exclusive and shared key; ARGV[1] the token, ARGV[2] the lease in ms. All or nothing.
const RENEW_LOCKS = `${NOW}
local ttl = tonumber(ARGV[2])
local modes = {}
for i = 1, #KEYS / 2 do
  local x, s = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('GET', x) == ARGV[1] then
    modes[i] = 'X'
  else
    local until_ = redis.call('ZSCORE', s, ARGV[1])
    if not until_ or tonumber(until_) <= now then return 0 end
    modes[i] = 'S'
  end
end
for i = 1, #KEYS / 2 do
  local x, s = KEYS[2 * i - 1], KEYS[2 * i]
  if modes[i] == 'X' then
    redis.call('PEXPIRE', x, ttl)
  else
    redis.call('ZADD', s, 'XX', now + ttl, ARGV[1])
    if redis.call('PTTL', s) < ttl then redis.call('PEXPIRE', s, ttl) end
  end
end
return 1`;
// KEYS: each node's exclusive and shared key; ARGV[1] the token. Only this holder's marks go.
const RELEASE_LOCKS = `
for i = 1, #KEYS / 2 do
  local x, s = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('GET', x) == ARGV[1] then redis.call('DEL', x) else redis.call('ZREM', s, ARGV[1]) end
end
return 1`;

/** Every key of one lock scope shares a hash tag, so that a scope lives in one Redis Cluster slot. */
const lockKey = {
  fence: (scope: string) => `lock:{${scope}}:fence`,
  /** A node's exclusive and shared keys. */
  node: (scope: string, node: string) => [`lock:{${scope}}:x:${node}`, `lock:{${scope}}:s:${node}`],
};

export interface RedisStoreOptions {
  url: string;
  /** Redis Sentinel: the master named `sentinelName` is found through these. */
  sentinels?: Array<{ host: string; port: number }> | undefined;
  sentinelName?: string;
  /** Redis Cluster: some of its nodes (the rest are discovered); the URL then gives only credentials and TLS. */
  clusterNodes?: Array<{ host: string; port: number }> | undefined;
  keyPrefix: string;
  commandTimeoutMs: number;
}

/** Sessions, refresh families and counters in Redis, shared by every gateway instance. */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis' as const;
  readonly durable = true;
  readonly client: Redis | Cluster;
  /** With Redis Cluster, the prefix every key gets (a key's slot is computed on the prefixed key). */
  private readonly clusterPrefix: string | undefined;

  constructor(opts: RedisStoreOptions) {
    const connection = {
      // Fail fast while Redis is away (callers answer 503) instead of queueing requests without bound.
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: opts.commandTimeoutMs,
    };
    const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2000);
    if (opts.clusterNodes) {
      const url = new URL(opts.url);
      const tls = url.protocol === 'rediss:';
      this.clusterPrefix = opts.keyPrefix;
      this.client = new Cluster(opts.clusterNodes, {
        // With TLS, nodes are dialled by the names they announce, not by resolved addresses: the
        // certificate names the host (ElastiCache and other managed clusters), not its IP.
        ...(tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
        keyPrefix: opts.keyPrefix,
        lazyConnect: true,
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        slotsRefreshTimeout: opts.commandTimeoutMs,
        // Reads from replicas could miss a write acknowledged a moment ago (a rotated token, a spent state).
        scaleReads: 'master',
        redisOptions: {
          ...connection,
          username: decodeURIComponent(url.username) || undefined,
          password: decodeURIComponent(url.password) || undefined,
          ...(tls ? { tls: {} } : {}),
        },
      });
    } else {
      this.client = new Redis(opts.url, {
        ...(opts.sentinels ? { sentinels: opts.sentinels, name: opts.sentinelName ?? 'mymaster' } : {}),
        ...connection,
        keyPrefix: opts.keyPrefix,
        lazyConnect: true,
        // Commands issued in the same tick (cache fills, token writes) share one round trip.
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        retryStrategy,
      });
    }
    // EVALSHA once loaded: the lock scripts run on every write, so Redis should not hash them each time.
    this.client.defineCommand('gatewayAcquireLocks', { lua: ACQUIRE_LOCKS });
    this.client.defineCommand('gatewayRenewLocks', { lua: RENEW_LOCKS });
    this.client.defineCommand('gatewayReleaseLocks', { lua: RELEASE_LOCKS });
    // Connection errors are reported through failed commands (503) and /readyz; without a listener
    // ioredis would print them to stderr itself.
    this.client.on('error', () => undefined);
  }

  private get scripts() {
    return this.client as unknown as Record<
      'gatewayAcquireLocks' | 'gatewayRenewLocks' | 'gatewayReleaseLocks',
      (...args: Array<string | number>) => Promise<unknown>
    >;
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
    if (this.clusterPrefix === undefined) return this.run(() => this.client.mget(...keys));
    // A cluster refuses MGET across slots: one MGET per slot, all sent at once.
    const values: Array<string | null> = new Array<string | null>(keys.length);
    await Promise.all(
      [...this.bySlot(keys)].map(async (at) => {
        const got = await this.run(() => this.client.mget(...at.map((i) => keys[i]!)));
        at.forEach((i, j) => (values[i] = got[j] ?? null));
      }),
    );
    return values;
  }

  /** The positions of `keys`, grouped by their cluster slot (keys sharing a hash tag share one). */
  private bySlot(keys: string[]): Iterable<number[]> {
    const groups = new Map<number, number[]>();
    keys.forEach((k, i) => {
      const slot = calculateSlot(this.clusterPrefix + k);
      const group = groups.get(slot);
      if (group) group.push(i);
      else groups.set(slot, [i]);
    });
    return groups.values();
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
    if (keys.length === 0) return;
    if (this.clusterPrefix === undefined) {
      await this.run(() => this.client.del(...keys));
      return;
    }
    await Promise.all([...this.bySlot(keys)].map((at) => this.run(() => this.client.del(...at.map((i) => keys[i]!)))));
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

  async acquireLocks(scope: string, nodes: LockNode[], ttlMs: number) {
    const keys = [lockKey.fence(scope), ...nodes.flatMap((n) => lockKey.node(scope, n.node))];
    const r = await this.run(() => this.scripts.gatewayAcquireLocks(keys.length, ...keys, String(ttlMs), ...nodes.map((n) => n.mode)));
    return Number(r);
  }

  async renewLocks(scope: string, token: number, nodes: string[], ttlMs: number) {
    const keys = nodes.flatMap((n) => lockKey.node(scope, n));
    const r = await this.run(() => this.scripts.gatewayRenewLocks(keys.length, ...keys, String(token), String(ttlMs)));
    return r === 1;
  }

  async releaseLocks(scope: string, token: number, nodes: string[]) {
    if (nodes.length === 0) return;
    const keys = nodes.flatMap((n) => lockKey.node(scope, n));
    await this.run(() => this.scripts.gatewayReleaseLocks(keys.length, ...keys, String(token)));
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
