import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { GatewayError } from '../../src/errors.js';
import { lockNodes, lockPlan, NamespaceLocks, type Lease } from '../../src/core/namespace-locks.js';
import { MemorySessionStore } from '../../src/storage/session-store/memory.js';
import { RedisSessionStore } from '../../src/storage/session-store/redis.js';
import type { SessionStore } from '../../src/storage/session-store/types.js';
import { waitFor } from '../support/processes.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

/**
 * The reference the store-level locks are checked against, stated without intention locks: two
 * operations conflict exactly when a name one of them holds is a name of the other, or its ancestor or
 * descendant ("a/b" and "a/b/" are one name).
 */
const bare = (name: string) => name.replace(/\/$/, '');
const related = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
const conflict = (a: string[], b: string[]) => a.some((x) => b.some((y) => related(bare(x), bare(y))));

describe('lock plans', () => {
  it('hold each name exclusively and every ancestor shared, never the top of the bucket', () => {
    expect(lockPlan(['a/b/c.txt'])).toEqual([
      { path: 'a', mode: 'S' },
      { path: 'a/b', mode: 'S' },
      { path: 'a/b/c.txt', mode: 'X' },
    ]);
    expect(lockPlan(['top.txt'])).toEqual([{ path: 'top.txt', mode: 'X' }]);
    expect(() => lockPlan([''])).toThrow();
  });

  it('give a folder and a file of the same name one node, and let exclusive win over shared', () => {
    expect(lockPlan(['a/b/'])).toEqual(lockPlan(['a/b']));
    expect(lockPlan(['a/b', 'a/'])).toEqual([
      { path: 'a', mode: 'X' },
      { path: 'a/b', mode: 'X' },
    ]);
  });
});

const segment = fc.constantFrom('a', 'b', 'c');
const name = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([parts, folder]) => `${parts.join('/')}${folder ? '/' : ''}`);
type Command = { kind: 'acquire'; names: string[] } | { kind: 'release'; pick: number } | { kind: 'renew'; pick: number };
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.array(name, { minLength: 1, maxLength: 2 }).map((names) => ({ kind: 'acquire' as const, names })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'release' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'renew' as const, pick })) },
);

/** The same checks for each store: it grants exactly what the reference allows, all at once or nothing. */
function storeContract(label: string, open: () => Promise<SessionStore>) {
  let store: SessionStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(() => store.close());

  it(`${label}: grants a request exactly when it conflicts with no held grant (model check)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 40 }), async (commands) => {
        const scope = `model-${randomBytes(6).toString('hex')}`;
        const held: Array<{ token: number; names: string[] }> = [];
        let lastToken = 0;
        const nodesOf = (names: string[]) => lockNodes(names).map((n) => n.node);
        for (const c of commands) {
          if (c.kind === 'acquire') {
            const token = await store.acquireLocks(scope, lockNodes(c.names), 60_000);
            expect(token > 0).toBe(!held.some((h) => conflict(h.names, c.names)));
            if (token > 0) {
              expect(token).toBeGreaterThan(lastToken);
              lastToken = token;
              held.push({ token, names: c.names });
            }
          } else if (held.length > 0) {
            const h = held[c.pick % held.length]!;
            if (c.kind === 'renew') {
              expect(await store.renewLocks(scope, h.token, nodesOf(h.names), 60_000)).toBe(true);
            } else {
              await store.releaseLocks(scope, h.token, nodesOf(h.names));
              held.splice(held.indexOf(h), 1);
            }
          }
        }
        for (const h of held) await store.releaseLocks(scope, h.token, nodesOf(h.names));
      }),
      { numRuns: 150 },
    );
  });

  it(`${label}: ends a holder's locks when its lease runs out, and then refuses to renew them`, async () => {
    const scope = `lease-${randomBytes(6).toString('hex')}`;
    const started = Date.now();
    const crashed = await store.acquireLocks(scope, lockNodes(['a/']), 400);
    expect(crashed).toBeGreaterThan(0);
    // Nobody releases it (its holder "crashed"): another write gets in once the lease is over, not before.
    let later = 0;
    while (later === 0 && Date.now() - started < 10_000) {
      later = await store.acquireLocks(scope, lockNodes(['a/b.txt']), 60_000);
      if (later === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(later).toBeGreaterThan(crashed);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(
      await store.renewLocks(
        scope,
        crashed,
        lockNodes(['a/']).map((n) => n.node),
        60_000,
      ),
    ).toBe(false);
  });
}

describe("the in-process store's locks", () => {
  storeContract('in-process', async () => new MemorySessionStore());
});

describeWithRedis('Redis locks', () => {
  storeContract('Redis', async () => {
    const s = new RedisSessionStore({ url: testRedisUrl!, keyPrefix: uniquePrefix('locks'), commandTimeoutMs: 2000 });
    await s.connect();
    return s;
  });
});

/** The service over two stores that reach one Redis: two gateway instances. */
describeWithRedis('write ordering across two instances on one Redis', () => {
  const stores: RedisSessionStore[] = [];
  const instance = async (opts = { waitMs: 5000, leaseMs: 3000 }) => {
    const s = new RedisSessionStore({ url: testRedisUrl!, keyPrefix: prefix, commandTimeoutMs: 2000 });
    await s.connect();
    stores.push(s);
    return { store: s, locks: new NamespaceLocks(s, opts) };
  };
  let prefix: string;
  beforeEach(() => {
    prefix = uniquePrefix('ordering');
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('makes a write inside a folder wait while the folder is moved on the other instance, then lets it in', async () => {
    const [one, two] = [await instance(), await instance()];
    let release!: () => void;
    const barrier = new Promise<void>((r) => (release = r));
    const events: string[] = [];
    const move = one.locks.run('bucket', ['team/docs/', 'team/archive/docs/'], async () => {
      events.push('move starts');
      await barrier;
      events.push('move ends');
    });
    await waitFor(() => events.length === 1, 'the move to hold its names');
    const upload = two.locks.run('bucket', ['team/docs/report.txt'], async () => void events.push('upload'));
    await waitFor(() => two.locks.waiting === 1, 'the upload to wait');
    expect(events).toEqual(['move starts']);
    release();
    await Promise.all([move, upload]);
    expect(events).toEqual(['move starts', 'move ends', 'upload']);
    expect(two.locks.waiting).toBe(0);
  });

  it('lets writes to unrelated names run at the same time', async () => {
    const [one, two] = [await instance(), await instance()];
    let release!: () => void;
    const barrier = new Promise<void>((r) => (release = r));
    const first = one.locks.run('bucket', ['team/a.txt'], () => barrier);
    let second = false;
    await two.locks.run('bucket', ['team/b.txt'], async () => void (second = true));
    expect(second).toBe(true);
    release();
    await first;
  });

  it('answers 503 with Retry-After when the turn does not come within the wait', async () => {
    const [one, two] = [await instance(), await instance({ waitMs: 300, leaseMs: 3000 })];
    let release!: () => void;
    const holding = one.locks.run('bucket', ['x/'], () => new Promise<void>((r) => (release = r)));
    await waitFor(() => release !== undefined, 'the first write to hold x/');
    const refused = await two.locks.run('bucket', ['x/y'], async () => 'ran').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ kind: 'unavailable', retryAfterSec: 2 });
    release();
    await holding;
  });

  it("keeps renewing a long write's lease, and a holder that lost its lease cannot commit", async () => {
    const one = await instance({ waitMs: 100, leaseMs: 1200 });
    const other = await instance({ waitMs: 100, leaseMs: 1200 });
    let lease!: Lease;
    let done!: () => void;
    const work = one.locks.run('bucket', ['long/'], async (l) => {
      lease = l;
      await new Promise<void>((r) => (done = r));
    });
    await waitFor(() => lease !== undefined, 'the write to start');
    // Held well past its first lease: renewals keep others out.
    const started = Date.now();
    while (Date.now() - started < 3000) {
      await expect(other.locks.run('bucket', ['long/x'], async () => 'in')).rejects.toMatchObject({ kind: 'unavailable' });
      expect(() => lease.assertHeld()).not.toThrow();
    }
    // The store forgets the grant (as if it expired unseen): the next renewal tells the holder.
    await one.store.releaseLocks(
      'bucket',
      lease.token,
      lockNodes(['long/']).map((n) => n.node),
    );
    await waitFor(
      () => {
        try {
          lease.assertHeld();
          return false;
        } catch (err) {
          return err instanceof GatewayError && err.kind === 'unavailable';
        }
      },
      'the holder to learn it lost its lease',
      5000,
    );
    done();
    await work;
  });
});
