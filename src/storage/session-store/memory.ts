import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { SessionStore } from './types.js';

interface Entry {
  value: string;
  expiresAt: number;
}

/** The in-process store of the embedded default: same contract as Redis, gone when the process ends. */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory' as const;
  readonly durable = false;
  private readonly entries = new Map<string, Entry>();
  private readonly sets = new Map<string, { members: Set<string>; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepIntervalMs = 60_000) {
    // Expired entries are dropped lazily on read; the sweep bounds memory for keys nobody reads again.
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
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
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
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
    (await this.liveSet(key))?.delete(member);
  }

  private async liveSet(key: string): Promise<Set<string> | undefined> {
    const s = this.sets.get(key);
    if (s && s.expiresAt <= Date.now()) this.sets.delete(key);
    return s && s.expiresAt > Date.now() ? s.members : undefined;
  }

  rateLimiter(opts: { name: string; points: number; durationSec: number }) {
    return new RateLimiterMemory({ keyPrefix: opts.name, points: opts.points, duration: opts.durationSec });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
    this.sets.clear();
  }
}
