import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/** One node of a lock request: an opaque node id and how it is held. */
export interface LockNode {
  node: string;
  /** Shared (others may share it) or exclusive (nobody else may hold it at all). */
  mode: 'S' | 'X';
}

/**
 * The small key-value contract the gateway needs from its session store. Two implementations keep it:
 * Redis (shared by every gateway instance) and an in-process map (the embedded default). Values are
 * strings; every key expires. Methods reject with a `storeUnavailable` GatewayError when the store
 * cannot be reached, never with a raw driver error.
 */
export interface SessionStore {
  readonly kind: 'redis' | 'memory';
  /** False when everything stored ends with the process. */
  readonly durable: boolean;
  get(key: string): Promise<string | null>;
  /** Several values in one round trip, in the order of the keys. */
  getMany(keys: string[]): Promise<Array<string | null>>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Writes only when the key does not exist; true when this call wrote it. Atomic. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Writes only when the key currently holds `expected`; true when this call wrote it. Atomic. */
  compareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
  delete(...keys: string[]): Promise<void>;
  /** Adds to a set of strings and gives the whole set `ttlMs` from now. */
  addToSet(key: string, member: string, ttlMs: number): Promise<void>;
  setMembers(key: string): Promise<string[]>;
  removeFromSet(key: string, member: string): Promise<void>;
  /**
   * Grants every node of `nodes` (within `scope`) to one new holder, or none of them: all-or-nothing, so
   * a holder never waits while holding. A node held exclusively by anyone, or requested exclusively while
   * anyone holds it, is a conflict. Each grant is leased for `ttlMs` (by the store's own clock). Answers
   * the holder's fencing token (increasing within the scope), or 0 on a conflict.
   */
  acquireLocks(scope: string, nodes: LockNode[], ttlMs: number): Promise<number>;
  /** Extends a holder's lease on every one of its nodes; false (and nothing extended) when it lost any. */
  renewLocks(scope: string, token: number, nodes: string[], ttlMs: number): Promise<boolean>;
  releaseLocks(scope: string, token: number, nodes: string[]): Promise<void>;
  /** A fixed-window counter limiter whose counts live in this store (so limits hold across instances). */
  rateLimiter(opts: { name: string; points: number; durationSec: number }): RateLimiterAbstract;
  ping(): Promise<void>;
  close(): Promise<void>;
}
