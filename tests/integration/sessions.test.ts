import { S3Client } from '@aws-sdk/client-s3';
import { AccountDirectory, userRecord } from '../../src/core/auth/accounts.js';
import { randomBytes } from 'node:crypto';
import { SessionService } from '../../src/core/auth/sessions.js';
import { newToken, tokenHash } from '../../src/core/auth/tokens.js';
import { storeKeys } from '../../src/core/store-keys.js';
import { GatewayError } from '../../src/errors.js';
import { MemorySessionStore } from '../../src/storage/session-store/memory.js';
import { RedisSessionStore } from '../../src/storage/session-store/redis.js';
import type { SessionStore } from '../../src/storage/session-store/types.js';
import { S3Bucket } from '../../src/storage/s3/bucket.js';
import { waitFor } from '../support/processes.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

// Sessions never reach S3: the bucket only has to exist as a value.
const bucket = new S3Bucket(new S3Client({ region: 'us-east-1' }), 'unused');
const accounts = new AccountDirectory([userRecord({ name: 'alice', passwordHash: 'unused', root: 'alice', readOnly: false })], bucket);
const alice = accounts.find('alice')!;

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof GatewayError) return err.kind;
    throw err;
  }
}

function sessionRules(makeStore: () => Promise<SessionStore>) {
  let store: SessionStore;
  let sessions: SessionService;
  beforeEach(async () => {
    store = await makeStore();
    sessions = new SessionService(store, accounts, { accessSec: 3600, refreshSec: 7200, maxAgeSec: 86400 });
  });
  afterEach(() => store.close());

  it('authenticates a new access token to its account', async () => {
    const t = await sessions.start(alice);
    expect(t.accessToken).toMatch(/^gwa_[A-Za-z0-9_-]{43}$/);
    expect(t.refreshToken).not.toBe(t.accessToken);
    expect((await sessions.authenticate(t.accessToken)).account.name).toBe('alice');
  });

  it('refuses missing, malformed and unknown tokens with 401', async () => {
    expect(await kindOf(sessions.authenticate(undefined))).toBe('unauthorized');
    expect(await kindOf(sessions.authenticate('short'))).toBe('unauthorized');
    expect(await kindOf(sessions.authenticate(`gwa_${'A'.repeat(43)}`))).toBe('unauthorized');
  });

  it('does not take a refresh token for an access token, nor the other way round', async () => {
    const t = await sessions.start(alice);
    expect(await kindOf(sessions.authenticate(t.refreshToken))).toBe('unauthorized');
    expect(await kindOf(sessions.refresh(t.accessToken))).toBe('forbidden');
    expect((await sessions.refresh(t.refreshToken)).account.name).toBe('alice');
  });

  it('rotates both tokens on refresh; the old access token dies at once', async () => {
    const t1 = await sessions.start(alice);
    const { tokens: t2 } = await sessions.refresh(t1.refreshToken);
    expect(t2.accessToken).not.toBe(t1.accessToken);
    expect(t2.refreshToken).not.toBe(t1.refreshToken);
    expect(await kindOf(sessions.authenticate(t1.accessToken))).toBe('unauthorized');
    expect((await sessions.authenticate(t2.accessToken)).account.name).toBe('alice');
  });

  it('treats a reused refresh token as a leak: 403 and the whole family ends', async () => {
    const t1 = await sessions.start(alice);
    const { tokens: t2 } = await sessions.refresh(t1.refreshToken);
    expect(await kindOf(sessions.refresh(t1.refreshToken))).toBe('forbidden');
    // the legitimate holder's newer tokens are gone too
    expect(await kindOf(sessions.authenticate(t2.accessToken))).toBe('unauthorized');
    expect(await kindOf(sessions.refresh(t2.refreshToken))).toBe('forbidden');
  });

  it('treats two concurrent refreshes with one token as a reuse: the family ends', async () => {
    const t1 = await sessions.start(alice);
    const attempts = [sessions.refresh(t1.refreshToken), sessions.refresh(t1.refreshToken)];
    const settled = await Promise.allSettled(attempts);
    const kinds = await Promise.all(attempts.map((a) => kindOf(a)));
    expect(kinds).toContain('forbidden');
    expect(kinds.filter((k) => k === 'ok').length).toBeLessThanOrEqual(1);
    // whichever refresh got through (if one did) was ended with the family too
    const winners = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.tokens.accessToken] : []));
    expect(await Promise.all(winners.map((t) => kindOf(sessions.authenticate(t))))).toEqual(winners.map(() => 'unauthorized'));
  });

  it('keeps other sessions of the same account alive when one family ends', async () => {
    const a = await sessions.start(alice);
    const b = await sessions.start(alice);
    await sessions.refresh(a.refreshToken);
    await kindOf(sessions.refresh(a.refreshToken));
    expect((await sessions.authenticate(b.accessToken)).account.name).toBe('alice');
  });

  it('signs out immediately: access and refresh tokens both stop working', async () => {
    const t = await sessions.start(alice);
    expect(await sessions.end(t.accessToken)).toBe(true);
    expect(await kindOf(sessions.authenticate(t.accessToken))).toBe('unauthorized');
    expect(await kindOf(sessions.refresh(t.refreshToken))).toBe('forbidden');
    expect(await sessions.end(t.accessToken)).toBe(false);
  });

  it('refuses an unknown refresh token with 403', async () => {
    expect(await kindOf(sessions.refresh(`gwr_${'B'.repeat(43)}`))).toBe('forbidden');
  });

  it('stores no token in the clear', async () => {
    const written: string[] = [];
    const recording: SessionStore = Object.create(store, {
      set: { value: async (k: string, v: string, ttl: number) => (written.push(k, v), store.set(k, v, ttl)) },
      compareAndSet: {
        value: async (k: string, e: string, v: string, ttl: number) => (written.push(k, v), store.compareAndSet(k, e, v, ttl)),
      },
    });
    const recorded = new SessionService(recording, accounts, { accessSec: 3600, refreshSec: 7200, maxAgeSec: 86400 });
    const t1 = await recorded.start(alice);
    const { tokens: t2 } = await recorded.refresh(t1.refreshToken);
    expect(written.length).toBeGreaterThanOrEqual(8);
    for (const token of [t1.accessToken, t1.refreshToken, t2.accessToken, t2.refreshToken]) {
      for (const s of written) expect(s).not.toContain(token);
    }
  });

  it('expires access tokens after their lifetime', async () => {
    // 3 s: room for a slow machine to use the token once before it ends; then polled until refused.
    const quick = new SessionService(store, accounts, { accessSec: 3, refreshSec: 60, maxAgeSec: 86400 });
    const t = await quick.start(alice);
    await quick.authenticate(t.accessToken);
    await waitFor(async () => (await kindOf(quick.authenticate(t.accessToken))) === 'unauthorized', 'the access token to expire', 15_000);
    // ...while the refresh token still gets a new pair
    const { tokens } = await quick.refresh(t.refreshToken);
    expect((await quick.authenticate(tokens.accessToken)).account.name).toBe('alice');
  });

  it('remembers a looked-up token for SESSION_CACHE_MS: what another instance ends counts within it, what this one ends at once', async () => {
    const cacheMs = 5000;
    const ttl = { accessSec: 3600, refreshSec: 7200, maxAgeSec: 86400, cacheMs };
    // two instances on one store
    const a = new SessionService(store, accounts, ttl);
    const b = new SessionService(store, accounts, ttl);
    const t = await a.start(alice);
    await a.authenticate(t.accessToken);
    await b.authenticate(t.accessToken);
    const ended = Date.now();
    expect(await a.end(t.accessToken)).toBe(true);
    expect(await kindOf(a.authenticate(t.accessToken))).toBe('unauthorized');
    // b trusts what it looked up a moment ago, and no longer than cacheMs
    expect(await kindOf(b.authenticate(t.accessToken))).toBe('ok');
    await waitFor(async () => (await kindOf(b.authenticate(t.accessToken))) === 'unauthorized', 'the other instance to see the sign-out', cacheMs + 5000);
    expect(Date.now() - ended).toBeLessThan(cacheMs + 1000);
    // a refresh made here kills the old access token here at once
    const t2 = await a.start(alice);
    await a.authenticate(t2.accessToken);
    await a.refresh(t2.refreshToken);
    expect(await kindOf(a.authenticate(t2.accessToken))).toBe('unauthorized');
  });

  it('keeps nothing per refresh: after 30 refreshes a session holds its family and one access token, and claims of minutes', async () => {
    const live = new Map<string, number>(); // long-lived keys written and not deleted since, with their lifetime
    const note = (k: string, ttl: number) => (ttl > 5 * 60_000 ? live.set(k, ttl) : live.delete(k));
    const recording: SessionStore = Object.create(store, {
      set: { value: async (k: string, v: string, ttl: number) => (note(k, ttl), store.set(k, v, ttl)) },
      setIfAbsent: { value: async (k: string, v: string, ttl: number) => (note(k, ttl), store.setIfAbsent(k, v, ttl)) },
      compareAndSet: { value: async (k: string, e: string, v: string, ttl: number) => (note(k, ttl), store.compareAndSet(k, e, v, ttl)) },
      delete: { value: async (...keys: string[]) => (keys.forEach((k) => live.delete(k)), store.delete(...keys)) },
    });
    const recorded = new SessionService(recording, accounts, { accessSec: 3600, refreshSec: 7200, maxAgeSec: 86400 });
    let t = await recorded.start(alice);
    for (let i = 0; i < 30; i++) t = (await recorded.refresh(t.refreshToken)).tokens;
    expect([...live.keys()].map((k) => k.slice(0, k.indexOf(':'))).sort()).toEqual(['at', 'fam']);
    expect((await recorded.authenticate(t.accessToken)).account.name).toBe('alice');
  });

  it('still refreshes a session started before family secrets (a token found by its own key), and still ends it on reuse', async () => {
    // as the previous release wrote a session: a random family id, each token by its hash
    const familyId = randomBytes(16).toString('base64url');
    const [access, refresh] = [newToken('access'), newToken('refresh')];
    const family = { principal: alice.principal, access: tokenHash(access), refresh: tokenHash(refresh), createdAt: Date.now(), version: alice.version };
    await store.set(storeKeys.family(familyId), JSON.stringify(family), 7_200_000);
    await store.set(storeKeys.accessToken(tokenHash(access)), familyId, 3_600_000);
    await store.set(storeKeys.refreshToken(tokenHash(refresh)), familyId, 7_200_000);
    expect((await sessions.authenticate(access)).familyId).toBe(familyId);
    const { tokens: t2 } = await sessions.refresh(refresh);
    const { tokens: t3 } = await sessions.refresh(t2.refreshToken);
    expect((await sessions.authenticate(t3.accessToken)).familyId).toBe(familyId);
    expect(await kindOf(sessions.refresh(refresh))).toBe('forbidden');
    expect(await kindOf(sessions.authenticate(t3.accessToken))).toBe('unauthorized');
  });

  it('ends sessions of an account that was removed', async () => {
    const ghost = new AccountDirectory([userRecord({ name: 'ghost', passwordHash: 'x', root: '', readOnly: false })], bucket).find('ghost')!;
    const t = await sessions.start(ghost);
    expect(await kindOf(sessions.authenticate(t.accessToken))).toBe('unauthorized');
  });
}

describe('session rules: in-process store', () => sessionRules(async () => new MemorySessionStore()));

describeWithRedis('session rules: Redis', () =>
  sessionRules(async () => {
    const s = new RedisSessionStore({ url: testRedisUrl!, keyPrefix: uniquePrefix('sessions'), commandTimeoutMs: 2000 });
    await s.connect();
    return s;
  }),
);
