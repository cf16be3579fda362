import { createHash, randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { GatewayError, invalid } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { BucketStore } from '../../../storage/bucket-store.js';
import type { SessionStore } from '../../../storage/session-store/types.js';
import { storeKeys } from '../../store-keys.js';
import { authIdFor, type Account } from '../accounts.js';
import type { CredentialSeal } from '../credential-seal.js';
import type { CallbackOutcome, OAuthStart, SignInMethod } from '../sign-in.js';
import type { SignInThrottle } from '../throttle.js';
import { admit, type AccessRules } from './claims.js';
import { ProviderRefusal, type PendingChecks, type ProviderAnswer, type RelyingParty } from './relying-party.js';

/** What a session of this mode keeps, sealed: who the person is, what they see, and the provider's refresh token. */
interface OidcPrincipal {
  sub: string;
  root: string;
  ro: boolean;
  /** The person's groups (bounded), for the mounts granted to groups; renewed at each refresh. */
  g?: string[];
  /** The provider's refresh token: each gateway refresh asks the provider again. */
  rt?: string | undefined;
  /** Epoch ms: without a refresh token, the session ends with the ID token (unless the operator chose otherwise). */
  until?: number | undefined;
}

/**
 * An oauth sign-in under way, in the session store under its state's hash. It is kept twice as long as
 * it may be used (`expiresAt`), so that a late client hears "expired" rather than "unknown".
 */
type Pending = { expiresAt: number } & (
  { status: 'pending'; checks: PendingChecks } | { status: 'done'; principal: string } | { status: 'refused'; reason: string } | { status: 'spent' }
);

const MAX_GROUPS = 256;
const MAX_GROUP_LENGTH = 256;

const EXPIRED = 'This sign-in has expired (it must be finished within OIDC_STATE_TTL): start signing in again.';

export interface OidcOptions {
  issuer: string;
  rules: AccessRules;
  stateTtlMs: number;
  /** Without a provider refresh token, let sessions live to SESSION_MAX_AGE rather than end with the ID token. */
  keepWithoutRefreshToken: boolean;
}

const sha = (s: string) => createHash('sha256').update(s).digest('base64url');
const STATE_FIELD = 'oauthState' as const;

/**
 * AUTH_MODE=oidc: odrive's `oauth` sign-in over any OpenID Connect provider. `begin` makes a single-use
 * state (and its PKCE verifier and nonce) in the session store and the provider's URL; the browser comes
 * back to `callback`, which checks the provider's answer and the operator's rules and records the outcome;
 * the client's `complete` with the state then spends it. The store carries it all, so each step may reach
 * another gateway instance.
 */
export class OidcSignIn implements SignInMethod {
  readonly form = [];

  constructor(
    private readonly rp: RelyingParty,
    private readonly store: SessionStore,
    private readonly seal: CredentialSeal,
    private readonly bucket: BucketStore,
    private readonly throttle: SignInThrottle,
    private readonly logger: Logger,
    private readonly opts: OidcOptions,
  ) {}

  verify(): Promise<Account> {
    throw invalid(STATE_FIELD, 'is required: this gateway signs in through the organisation’s identity provider (gateway.auth.method oauth)');
  }

  async begin(clientAddress: string): Promise<OAuthStart> {
    await this.throttle.admitAddress(clientAddress);
    const checks: PendingChecks = { state: randomBytes(32).toString('base64url'), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
    const url = await this.rp.authorizationUrl(checks);
    await this.store.set(
      key(checks.state),
      JSON.stringify({ status: 'pending', checks, expiresAt: Date.now() + this.opts.stateTtlMs } satisfies Pending),
      2 * this.opts.stateTtlMs,
    );
    return { url, state: checks.state };
  }

  /** The browser is back from the provider with `query`: records the outcome for the client to collect. */
  async callback(query: URLSearchParams): Promise<CallbackOutcome> {
    const state = query.get('state');
    if (!state) return { ok: false, status: 400, message: 'This page was opened without a sign-in state. Start signing in again from odrive.' };
    const found = await this.read(state);
    if (!found) return { ok: false, status: 400, message: 'This sign-in is unknown. Start signing in again from odrive.' };
    const { raw, value } = found;
    if (value.expiresAt <= Date.now() && value.status !== 'spent') return { ok: false, status: 400, message: EXPIRED };
    if (value.status === 'done' || value.status === 'spent') return { ok: true };
    if (value.status === 'refused') return { ok: false, status: 403, message: value.reason };

    let answer: ProviderAnswer;
    try {
      answer = await this.rp.exchange(query, value.checks);
    } catch (err) {
      if (!(err instanceof ProviderRefusal)) throw err;
      const reason = `Sign-in failed: ${err.message}.`;
      this.logger.warn('oauth sign-in refused', { reason: err.message });
      await this.settle(state, raw, { status: 'refused', reason, expiresAt: value.expiresAt });
      return { ok: false, status: 403, message: reason };
    }
    const admission = admit(answer.claims, this.opts.rules);
    if (!admission.ok) {
      await this.settle(state, raw, { status: 'refused', reason: admission.reason, expiresAt: value.expiresAt });
      return { ok: false, status: 403, message: admission.reason };
    }
    const principal = await this.seal.seal(this.principalOf(answer, admission));
    await this.settle(state, raw, { status: 'done', principal, expiresAt: value.expiresAt });
    // Said on the page: a person who opened a link someone else sent sees whom it signed in.
    const who = [answer.claims.email, answer.claims.preferred_username, answer.claims.sub].find((c) => typeof c === 'string' && c !== '');
    return { ok: true, who: who as string };
  }

  /** The client collects the sign-in with its state: once, after the browser came back. */
  async complete(fields: Record<string, unknown>): Promise<Account> {
    const state = fields[STATE_FIELD];
    if (state === undefined || state === null || state === '') throw invalid(STATE_FIELD, 'is required');
    if (typeof state !== 'string' || state.length > 512) throw invalid(STATE_FIELD, 'must be the state gateway_auth_method gave');
    const found = await this.read(state);
    const refuse = (why: string) => new GatewayError('forbidden', why);
    if (!found) throw refuse('This oauth state is unknown: start signing in again.');
    const { raw, value } = found;
    if (value.status === 'spent') throw refuse('This oauth state was already used to sign in: start signing in again.');
    if (value.expiresAt <= Date.now()) throw refuse(EXPIRED);
    if (value.status === 'pending') throw refuse('The sign-in has not been completed in the browser yet.');
    if (value.status === 'refused') throw refuse(value.reason);
    // Spent before the session starts: two clients with one state never both get tokens.
    const spent: Pending = { status: 'spent', expiresAt: value.expiresAt };
    if (!(await this.store.compareAndSet(key(state), raw, JSON.stringify(spent), this.opts.stateTtlMs))) {
      throw refuse('This oauth state was already used to sign in: start signing in again.');
    }
    const account = await this.resolve(value.principal);
    if (!account) throw refuse('This sign-in can no longer be used: start signing in again.');
    return account;
  }

  async resolve(principal: string): Promise<Account | undefined> {
    const p = await this.seal.open<OidcPrincipal>(principal);
    if (!p) return undefined;
    if (p.until !== undefined && p.until <= Date.now()) {
      throw new GatewayError('unauthorized', 'Your sign-in with the identity provider has ended; sign in again.');
    }
    return this.account(p, principal);
  }

  /**
   * At each refresh of the gateway's tokens: asks the provider again with its refresh token, so that a
   * person disabled there (or whose groups changed) is refused now. Throws `forbidden` when the provider refuses.
   */
  async renew(principal: string): Promise<string> {
    const p = await this.seal.open<OidcPrincipal>(principal);
    if (!p) throw new GatewayError('forbidden', 'This session can no longer be used; sign in again.');
    if (!p.rt) {
      if (p.until !== undefined && p.until <= Date.now())
        throw new GatewayError('forbidden', 'Your sign-in with the identity provider has ended; sign in again.');
      return principal;
    }
    let answer: ProviderAnswer;
    try {
      answer = await this.rp.refresh(p.rt, p.sub);
    } catch (err) {
      if (!(err instanceof ProviderRefusal)) throw err;
      this.logger.info('the identity provider refused a refresh; the session ends', { reason: err.message });
      throw new GatewayError('forbidden', 'The identity provider no longer accepts this sign-in; sign in again.');
    }
    const admission = admit(answer.claims, this.opts.rules);
    if (!admission.ok) throw new GatewayError('forbidden', admission.reason);
    return this.seal.seal(this.principalOf({ ...answer, refreshToken: answer.refreshToken ?? p.rt }, admission));
  }

  /** Signed out: the provider's refresh token is revoked too, where the provider can (best effort). */
  async signedOut(principal: string): Promise<void> {
    const p = await this.seal.open<OidcPrincipal>(principal);
    if (!p?.rt) return;
    try {
      await this.rp.revoke(p.rt);
    } catch (err) {
      this.logger.warn('could not revoke the refresh token at the identity provider', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  private principalOf(answer: ProviderAnswer, a: { root: string; readOnly: boolean; groups: string[] }): OidcPrincipal {
    const until = answer.refreshToken || this.opts.keepWithoutRefreshToken ? undefined : answer.idTokenExpiresAt;
    // A provider may list thousands of groups: the session keeps a bounded number of bounded names.
    const groups = a.groups.filter((g) => g.length <= MAX_GROUP_LENGTH).slice(0, MAX_GROUPS);
    return { sub: answer.claims.sub, root: a.root, ro: a.readOnly, rt: answer.refreshToken, until, ...(groups.length ? { g: groups } : {}) };
  }

  private account(p: OidcPrincipal, principal: string): Account {
    const authId = authIdFor('oidc', this.opts.issuer, p.sub);
    return { name: authId, principal, authId, bucket: this.bucket, root: p.root, readOnly: p.ro, ownCredentials: true, groups: p.g ?? [] };
  }

  private async read(state: string): Promise<{ raw: string; value: Pending } | undefined> {
    const raw = await this.store.get(key(state));
    return raw ? { raw, value: JSON.parse(raw) as Pending } : undefined;
  }

  /** Records the callback's outcome, unless another visit did first (a reload): the first one stands. */
  private async settle(state: string, raw: string, value: Pending): Promise<void> {
    await this.store.compareAndSet(key(state), raw, JSON.stringify(value), 2 * this.opts.stateTtlMs);
  }
}

const key = (state: string) => storeKeys.oauthSignIn(sha(state));
