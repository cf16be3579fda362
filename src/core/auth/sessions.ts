import { storeKeys } from '../store-keys.js';
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { SessionStore } from '../../storage/session-store/types.js';
import { fieldError, GatewayError } from '../../errors.js';
import type { Account } from './accounts.js';
import { FAMILY_SECRET_BYTES, familyIdOf, familySecretOf, looksLikeToken, newRefreshToken, newToken, tokenHash } from './tokens.js';

/**
 * A session family: one sign-in and every refresh that descends from it. It holds the hashes of the one
 * access token and the one refresh token that are current; anything older is dead.
 */
interface Family {
  /** Finds the account again (see SignInMethod.resolve). */
  principal: string;
  access: string;
  refresh: string;
  createdAt: number;
  /** The account's version at sign-in (see Account.version): the session ends when it changes. */
  version?: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms after which the access token is refused. */
  accessExpiresAt: number;
}

export interface Session {
  familyId: string;
  account: Account;
}

const key = { family: storeKeys.family, access: storeKeys.accessToken, refresh: storeKeys.refreshToken, spent: storeKeys.spentRefreshToken };

const UNUSABLE_ACCESS = 'The access token is missing, unknown, expired or signed out; refresh it or sign in again.';

export interface AccountResolver {
  resolve(principal: string): Promise<Account | undefined>;
  /** See SignInMethod.renew and signedOut. */
  renew?(principal: string): Promise<string>;
  signedOut?(principal: string): Promise<void>;
}

const CHANGED = 'The operator changed this account since it signed in; sign in again.';
const TOO_OLD = 'This session has reached its maximum age (SESSION_MAX_AGE); sign in again.';

/** How long a refresh token's single-use claim is kept: longer than any refresh takes (a provider's renewal included). */
const REFRESH_CLAIM_MS = 5 * 60_000;

/** Sessions an instance remembers at most (see `cacheMs`). */
const SESSION_CACHE_ENTRIES = 10_000;

export class SessionService {
  private readonly accessTtlMs: number;
  private readonly refreshTtlMs: number;
  private readonly maxAgeMs: number;
  /** Access token hash → its session, for `cacheMs`: a client's burst of requests reads the store once. */
  private readonly recent: LRUCache<string, Session> | undefined;

  constructor(
    private readonly store: SessionStore,
    private readonly accounts: AccountResolver,
    ttl: { accessSec: number; refreshSec: number; maxAgeSec: number; cacheMs?: number },
  ) {
    if (ttl.cacheMs) this.recent = new LRUCache({ max: SESSION_CACHE_ENTRIES, ttl: ttl.cacheMs, ttlAutopurge: false });
    this.accessTtlMs = ttl.accessSec * 1000;
    this.refreshTtlMs = ttl.refreshSec * 1000;
    this.maxAgeMs = ttl.maxAgeSec * 1000;
  }

  async start(account: Account): Promise<TokenPair> {
    const secret = randomBytes(FAMILY_SECRET_BYTES);
    const familyId = familyIdOf(secret);
    const createdAt = Date.now();
    const { pair, access, refresh } = await this.issue(familyId, createdAt, secret);
    const family: Family = { principal: account.principal, access, refresh, createdAt, version: account.version };
    await this.store.set(key.family(familyId), JSON.stringify(family), this.refreshTtlMs);
    return pair;
  }

  /** An access token's time to live: its own, but never past the session's maximum age. */
  private lifetime(ttlMs: number, createdAt: number): number {
    return Math.max(1, Math.min(ttlMs, createdAt + this.maxAgeMs - Date.now()));
  }

  private tooOld(family: Family): boolean {
    return Date.now() >= family.createdAt + this.maxAgeMs;
  }

  /**
   * The session of an access token. What another instance ends (a sign-out, a refresh, an account changed
   * or removed) is seen here within the cache's time (SESSION_CACHE_MS); what this instance ends, at once.
   */
  async authenticate(accessToken: string | undefined): Promise<Session> {
    if (!accessToken || !looksLikeToken(accessToken, 'access')) throw new GatewayError('unauthorized', UNUSABLE_ACCESS);
    const hash = tokenHash(accessToken);
    const known = this.recent?.get(hash);
    if (known) return known;
    const session = await this.lookUp(hash);
    this.recent?.set(hash, session);
    return session;
  }

  private async lookUp(hash: string): Promise<Session> {
    const familyId = await this.store.get(key.access(hash));
    if (!familyId) throw new GatewayError('unauthorized', UNUSABLE_ACCESS);
    const family = await this.readFamily(familyId);
    // The family is the authority: a token it no longer names (rotated, signed out) is dead.
    if (!family || family.value.access !== hash) throw new GatewayError('unauthorized', UNUSABLE_ACCESS);
    if (this.tooOld(family.value)) throw new GatewayError('unauthorized', TOO_OLD);
    const account = await this.accounts.resolve(family.value.principal);
    if (!account) throw new GatewayError('unauthorized', 'This account no longer exists; sign in again.');
    if (account.version !== family.value.version) throw new GatewayError('unauthorized', CHANGED);
    return { familyId, account };
  }

  /** Rotates both tokens. A refresh token presented twice ends its whole family (it has leaked). */
  async refresh(refreshToken: string): Promise<{ tokens: TokenPair; account: Account }> {
    const refused = (why: string) => fieldError('forbidden', { field: 'refreshToken', problem: `${why} Sign in again.` });
    if (!looksLikeToken(refreshToken, 'refresh')) throw refused('is not a valid refresh token.');
    const hash = tokenHash(refreshToken);
    // A refresh token leads to its family by the family's secret in its first half; one of a family
    // started before family secrets, by a key of its own (such families end REFRESH_TOKEN_TTL after it).
    let secret: Buffer | undefined = familySecretOf(refreshToken);
    let familyId = familyIdOf(secret);
    let family = await this.readFamily(familyId);
    if (!family) {
      secret = undefined;
      const older = await this.store.get(key.refresh(hash));
      if (!older) throw refused('is unknown or expired, or its session has ended.');
      familyId = older;
      family = await this.readFamily(familyId);
      if (!family) throw refused('belongs to a session that has ended.');
    }
    if (this.tooOld(family.value)) {
      await this.revoke(familyId, family.value);
      throw fieldError('forbidden', { field: 'refreshToken', problem: `cannot be used: ${TOO_OLD}` });
    }

    // The claim only has to outlive this refresh: once the family names newer tokens, any later use of
    // this one is seen as a reuse by the family itself.
    const claimed = await this.store.setIfAbsent(key.spent(hash), '1', REFRESH_CLAIM_MS);
    if (!claimed || family.value.refresh !== hash) {
      await this.revoke(familyId, family.value);
      throw refused('was already used, so the session has been ended for safety.');
    }

    let account: Account | undefined;
    try {
      account = await this.accounts.resolve(family.value.principal);
    } catch (err) {
      // The account's credential can no longer act (an expired Cells token): refreshing cannot help.
      await this.revoke(familyId, family.value);
      throw err;
    }
    if (!account) {
      await this.revoke(familyId, family.value);
      throw refused('belongs to an account that no longer exists.');
    }
    if (account.version !== family.value.version) {
      await this.revoke(familyId, family.value);
      throw fieldError('forbidden', { field: 'refreshToken', problem: `cannot be used: ${CHANGED}` });
    }

    let principal = family.value.principal;
    if (this.accounts.renew) {
      try {
        principal = await this.accounts.renew(principal);
      } catch (err) {
        // Whoever vouches for the account (an identity provider) no longer does: the session ends.
        if (err instanceof GatewayError && (err.kind === 'forbidden' || err.kind === 'unauthorized')) await this.revoke(familyId, family.value);
        // It could not tell (it does not answer): the refresh token stays good for the client's retry.
        else await this.store.delete(key.spent(hash));
        throw err;
      }
      account = (await this.accounts.resolve(principal)) ?? account;
    }

    const { pair, access, refresh } = await this.issue(familyId, family.value.createdAt, secret);
    const next: Family = { ...family.value, principal, access, refresh };
    const swapped = await this.store.compareAndSet(key.family(familyId), family.raw, JSON.stringify(next), this.refreshTtlMs);
    if (!swapped) {
      // Signed out (or ended) while we were rotating: the new tokens must not outlive it.
      await this.store.delete(key.access(access), key.refresh(refresh));
      throw refused('belongs to a session that has ended.');
    }
    await this.store.delete(key.access(family.value.access));
    this.recent?.delete(family.value.access);
    return { tokens: pair, account };
  }

  /** Forgets the sessions this instance remembers (the accounts changed): each is looked up again. */
  forgetRecent(): void {
    this.recent?.clear();
  }

  /** Whether the session (family) has ended: signed out, expired, ended for safety or past its maximum age. */
  async hasEnded(familyId: string): Promise<boolean> {
    const family = await this.readFamily(familyId);
    return !family || this.tooOld(family.value);
  }

  /** Signs out the session the access token belongs to, at once; false when the token is unknown. */
  async end(accessToken: string): Promise<boolean> {
    if (!looksLikeToken(accessToken, 'access')) return false;
    const hash = tokenHash(accessToken);
    const familyId = await this.store.get(key.access(hash));
    if (!familyId) return false;
    const family = await this.readFamily(familyId);
    if (!family || family.value.access !== hash) return false;
    await this.revoke(familyId, family.value);
    // Telling whoever vouched for it (an identity provider) must not hold up the sign-out; it logs its own failures.
    void this.accounts.signedOut?.(family.value.principal);
    return true;
  }

  /** New tokens for a family; `secret` undefined: a family started before family secrets (see refresh). */
  private async issue(familyId: string, createdAt: number, secret: Buffer | undefined) {
    const accessToken = newToken('access');
    const refreshToken = secret ? newRefreshToken(secret) : newToken('refresh');
    const access = tokenHash(accessToken);
    const refresh = tokenHash(refreshToken);
    const accessTtlMs = this.lifetime(this.accessTtlMs, createdAt);
    await this.store.set(key.access(access), familyId, accessTtlMs);
    // (A refresh token outlives the maximum age, so that its refusal can say why.)
    if (!secret) await this.store.set(key.refresh(refresh), familyId, this.refreshTtlMs);
    return { pair: { accessToken, refreshToken, accessExpiresAt: Date.now() + accessTtlMs }, access, refresh };
  }

  private async readFamily(familyId: string): Promise<{ raw: string; value: Family } | undefined> {
    const raw = await this.store.get(key.family(familyId));
    return raw ? { raw, value: JSON.parse(raw) as Family } : undefined;
  }

  private async revoke(familyId: string, family: Family): Promise<void> {
    // Deleting the family is what ends it; the token keys would expire anyway but go now.
    await this.store.delete(key.family(familyId), key.access(family.access), key.refresh(family.refresh));
    this.recent?.delete(family.access);
  }
}
