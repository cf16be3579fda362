import { hash } from 'node:crypto';
import type { LockNode, SessionStore } from '../storage/session-store/types.js';
import { GatewayError } from '../errors.js';

/**
 * Ordering for writes to one bucket, across every gateway instance that shares the session store.
 *
 * S3 has no rename and no multi-object transaction, so the gateway orders its own writes: an operation
 * holds an exclusive lock on each name it creates, replaces or removes — for a folder, one lock that
 * covers its whole subtree — and a shared lock on every ancestor of those names. Two operations conflict
 * exactly when one's exclusive name is the other's name, ancestor or descendant: the shared ancestor
 * locks make that a check of single nodes, which the store grants all at once or not at all (so nobody
 * holds some locks while waiting for others, and no order of waiting can deadlock).
 *
 * Locks are leases, renewed while their holder works: a crashed holder's locks end one lease later. A
 * holder that cannot be sure its lease still runs (renewals failing) refuses to commit (`assertHeld`).
 * Reads take no locks.
 */

export interface LockOptions {
  /** Longest wait for a turn, in ms; then the operation answers 503 with Retry-After. */
  waitMs: number;
  /** Lease of a holder's locks, in ms (renewed every third of it while the holder works). */
  leaseMs: number;
}

/** What the metrics want to know about waiting. */
export interface LockObserver {
  /** An operation starts (+1) or stops (-1) waiting for its turn. */
  waiting(delta: 1 | -1): void;
  /** How long an operation waited, and whether it got its turn. */
  waited(seconds: number, outcome: 'granted' | 'timeout'): void;
}

/** A held set of locks, for the work done under them. */
export interface Lease {
  /** Fencing token: grants within one scope get increasing tokens. */
  readonly token: number;
  /** Throws (503) unless this lease surely still holds: called right before every S3 write that commits. */
  assertHeld(): void;
}

export type LockMode = LockNode['mode'];

/** A key or a folder key names the same node: `a/b` (file) and `a/b/` (folder) cannot both exist. */
const nodePath = (key: string) => (key.endsWith('/') ? key.slice(0, -1) : key);

/**
 * The nodes that lock `names` (full keys, files or folders) exclusively, with every ancestor shared; the
 * bucket's top is never locked. Sorted, an exclusive lock winning over a shared one on the same node.
 */
export function lockPlan(names: string[]): Array<{ path: string; mode: LockMode }> {
  const modes = new Map<string, LockMode>();
  for (const name of names) {
    const path = nodePath(name);
    if (path === '') throw new Error('the top of a bucket is never locked');
    modes.set(path, 'X');
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      const ancestor = path.slice(0, i);
      if (!modes.has(ancestor)) modes.set(ancestor, 'S');
    }
  }
  return [...modes].map(([path, mode]) => ({ path, mode })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A fixed-size node id: keys may be 1024 bytes of any UTF-8, session-store keys should be neither. */
const nodeId = (path: string) => hash('sha256', path, 'base64url').slice(0, 22);

/** The store's lock request for `names`. */
export const lockNodes = (names: string[]): LockNode[] => lockPlan(names).map((p) => ({ node: nodeId(p.path), mode: p.mode }));

const BUSY = 'Another operation on this file or folder is still running; try again shortly.';
const busy = () => new GatewayError('unavailable', BUSY, { retryAfterSec: 2 });
/** The error of a wait for a turn that ran out. */
export const isLockTimeout = (err: unknown) => err instanceof GatewayError && err.message === BUSY;
const lostTurn = () =>
  new GatewayError('unavailable', 'The operation lost its turn (the session store did not confirm it in time); nothing more was changed. Try again.', {
    retryAfterSec: 2,
  });

class HeldLease implements Lease {
  private validUntil: number;
  private lost = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: SessionStore,
    private readonly scope: string,
    readonly token: number,
    private readonly nodes: string[],
    private readonly opts: LockOptions,
    askedAt: number,
  ) {
    // Counted from before the request was sent: the store's lease can only end later than that.
    this.validUntil = askedAt + opts.leaseMs;
    this.timer = setInterval(() => void this.renew(), opts.leaseMs / 3);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const askedAt = Date.now();
    try {
      if (await this.store.renewLocks(this.scope, this.token, this.nodes, this.opts.leaseMs)) this.validUntil = askedAt + this.opts.leaseMs;
      else this.lost = true;
    } catch {
      // the store is away: the lease runs out on its own unless a later renewal gets through
    }
  }

  assertHeld(): void {
    const margin = Math.max(50, this.opts.leaseMs / 10);
    if (this.lost || Date.now() >= this.validUntil - margin) throw lostTurn();
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    // A release that fails leaves locks that end with their lease.
    await this.store.releaseLocks(this.scope, this.token, this.nodes).catch(() => undefined);
  }
}

export class NamespaceLocks {
  /** Operations of this instance waiting for their turn; woken early when one of this instance releases. */
  private readonly wakers = new Set<() => void>();
  private waitingNow = 0;

  constructor(
    private readonly store: SessionStore,
    private readonly opts: LockOptions,
    private readonly observer?: LockObserver,
  ) {}

  /** How long an operation waits for its turn. */
  get waitMs(): number {
    return this.opts.waitMs;
  }

  /** Operations of this instance waiting for their turn right now. */
  get waiting(): number {
    return this.waitingNow;
  }

  /**
   * Runs `work` holding exclusive locks on `names` (full keys in the bucket `scope`) and shared locks on
   * their ancestors; waits for its turn up to `waitMs` (then 503). The locks are released when `work` ends.
   */
  async run<T>(scope: string, names: string[], work: (lease: Lease) => Promise<T>, waitMs = this.opts.waitMs): Promise<T> {
    const lease = await this.acquire(scope, lockNodes(names), waitMs);
    try {
      return await work(lease);
    } finally {
      await lease.release();
      for (const wake of this.wakers) wake();
    }
  }

  private async acquire(scope: string, nodes: LockNode[], waitMs: number): Promise<HeldLease> {
    const started = Date.now();
    const deadline = started + waitMs;
    let pause = 2;
    let waiting = false;
    try {
      for (;;) {
        const askedAt = Date.now();
        const token = await this.store.acquireLocks(scope, nodes, this.opts.leaseMs);
        if (token > 0) {
          if (waiting) this.observer?.waited((Date.now() - started) / 1000, 'granted');
          return new HeldLease(
            this.store,
            scope,
            token,
            nodes.map((n) => n.node),
            this.opts,
            askedAt,
          );
        }
        if (!waiting) {
          waiting = true;
          this.waitingNow++;
          this.observer?.waiting(1);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          this.observer?.waited((Date.now() - started) / 1000, 'timeout');
          throw busy();
        }
        // Another instance's release is seen by asking again (backing off, with jitter); this one's wakes us.
        await this.sleep(Math.min(left, pause * (0.5 + Math.random())));
        pause = Math.min(pause * 2, 100);
      }
    } finally {
      if (waiting) {
        this.waitingNow--;
        this.observer?.waiting(-1);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}
