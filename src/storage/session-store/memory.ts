import { LRUCache } from 'lru-cache';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { LockNode, SessionStore } from './types.js';

interface Entry {
  value: string;
  expiresAt: number;
}

interface StoredSet {
  members: Set<string>;
  expiresAt: number;
}

/** What one value or set is counted as: its key and contents, and a little for the bookkeeping. */
const OVERHEAD = 64;

/**
 * The in-process store of the embedded default: same contract as Redis, gone when the process ends. Its
 * memory is bounded: values within `maxBytes`, sets within a quarter of it more; beyond, the least
 * recently used go first (a session nobody used for longest ends), as Redis with an LRU policy would do.
 */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory' as const;
  readonly durable = false;
  private readonly entries: LRUCache<string, Entry>;
  private readonly sets: LRUCache<string, StoredSet>;
  /** Lock nodes (scope + node id) -> holder token -> mode and lease end. */
  private readonly locks = new Map<string, Map<number, { mode: 'S' | 'X'; expiresAt: number }>>();
  private fence = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: { maxBytes?: number; sweepIntervalMs?: number } = {}) {
    const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.entries = new LRUCache<string, Entry>({ maxSize: maxBytes, sizeCalculation: (e, k) => k.length + e.value.length + OVERHEAD });
    this.sets = new LRUCache<string, StoredSet>({
      maxSize: Math.max(1, Math.floor(maxBytes / 4)),
      sizeCalculation: (s, k) => k.length + [...s.members].reduce((n, m) => n + m.length + 8, OVERHEAD),
    });
    // Expired entries are dropped lazily on read; the sweep frees keys nobody reads again.
    this.sweeper = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 60_000);
    this.sweeper.unref();
  }

  /** What the values and sets hold now, as counted against the bound. */
  get heldBytes(): number {
    return this.entries.calculatedSize + this.sets.calculatedSize;
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.entries.entries()) if (e.expiresAt <= now) this.entries.delete(k);
    for (const [k, e] of this.sets.entries()) if (e.expiresAt <= now) this.sets.delete(k);
    for (const [k, holders] of this.locks) {
      for (const [t, h] of holders) if (h.expiresAt <= now) holders.delete(t);
      if (holders.size === 0) this.locks.delete(k);
    }
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async getMany(keys: string[]): Promise<Array<string | null>> {
    return keys.map((k) => this.live(k)?.value ?? null);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    return true;
  }

  async compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.live(key)?.value !== expected) return false;
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    return true;
  }

  async delete(...keys: string[]): Promise<void> {
    for (const k of keys) this.entries.delete(k);
  }

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    const members = (await this.liveSet(key)) ?? new Set<string>();
    members.add(member);
    this.sets.set(key, { members, expiresAt: Date.now() + ttlMs });
  }

  async setMembers(key: string): Promise<string[]> {
    return [...((await this.liveSet(key)) ?? [])];
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const s = this.sets.get(key);
    if (!s || s.expiresAt <= Date.now() || !s.members.delete(member)) return;
    this.sets.set(key, { members: s.members, expiresAt: s.expiresAt }); // counted afresh
  }

  private async liveSet(key: string): Promise<Set<string> | undefined> {
    const s = this.sets.get(key);
    if (s && s.expiresAt <= Date.now()) this.sets.delete(key);
    return s && s.expiresAt > Date.now() ? s.members : undefined;
  }

  // The same contract as Redis' lock scripts; one process, so each call is atomic by construction.
  async acquireLocks(scope: string, nodes: LockNode[], ttlMs: number): Promise<number> {
    const now = Date.now();
    for (const { node, mode } of nodes) {
      const holders = this.locks.get(`${scope}\0${node}`);
      if (!holders) continue;
      for (const [t, h] of holders) {
        if (h.expiresAt <= now) holders.delete(t);
        else if (mode === 'X' || h.mode === 'X') return 0;
      }
    }
    const token = ++this.fence;
    for (const { node, mode } of nodes) {
      const key = `${scope}\0${node}`;
      const holders = this.locks.get(key) ?? new Map();
      holders.set(token, { mode, expiresAt: now + ttlMs });
      this.locks.set(key, holders);
    }
    return token;
  }

  async renewLocks(scope: string, token: number, nodes: string[], ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const held = nodes.map((n) => this.locks.get(`${scope}\0${n}`)?.get(token));
    if (held.some((h) => !h || h.expiresAt <= now)) return false;
    for (const h of held) h!.expiresAt = now + ttlMs;
    return true;
  }

  async releaseLocks(scope: string, token: number, nodes: string[]): Promise<void> {
    for (const n of nodes) {
      const key = `${scope}\0${n}`;
      const holders = this.locks.get(key);
      holders?.delete(token);
      if (holders?.size === 0) this.locks.delete(key);
    }
  }

  rateLimiter(opts: { name: string; points: number; durationSec: number }) {
    return new RateLimiterMemory({ keyPrefix: opts.name, points: opts.points, duration: opts.durationSec });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
    this.sets.clear();
    this.locks.clear();
  }
}
