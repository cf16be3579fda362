import { createHash } from 'node:crypto';
import { storeKeys } from '../store-keys.js';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { SessionStore } from '../../storage/session-store/types.js';
import { GatewayError, storeUnavailable } from '../../errors.js';
import { addressKey } from './client-address.js';

export interface SignInThrottleOptions {
  accountMaxFailures: number;
  accountWindowSec: number;
  addressMaxAttempts: number;
  addressWindowSec: number;
}

const tooMany = (ms: number, what = 'sign-in attempts') => {
  const retryAfterSec = Math.max(1, Math.ceil(ms / 1000));
  return new GatewayError('rate_limited', `Too many ${what}; try again in ${retryAfterSec} s.`, { retryAfterSec });
};

/** Counts one point against `key`: 429 with Retry-After when it is spent, 503 when the store cannot count. */
export async function consumeOrRefuse(limiter: RateLimiterAbstract, key: string, what: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (err instanceof RateLimiterRes) throw tooMany(err.msBeforeNext, what);
    throw storeUnavailable(err);
  }
}

/** How failures are counted: per account, or per account and address (see SignInThrottle.admit). */
export type FailureScope = 'account' | 'account-at-address';

/** One admitted sign-in attempt: it has already counted as a failure until it says otherwise. */
export interface SignInAttempt {
  /** The credential was right: the account's failures are forgotten. */
  succeeded(): Promise<void>;
  /** Nothing was learnt (S3 did not answer, no turn to check): the attempt is given back. */
  undecided(): Promise<void>;
}

/**
 * Slows password guessing: every attempt counts against the client address (IPv6 by /64), and against
 * the account before its credential is checked, so a burst sent at once gets exactly the allowed number
 * of tries. Counters live in the session store, so with Redis they hold across gateway instances.
 *
 * Where an account name is public (an S3 access key id), anyone could spend its owner's budget: those
 * failures count per account and address, under a separate, higher bound per account in all.
 */
export class SignInThrottle {
  private readonly byAccount: RateLimiterAbstract;
  private readonly byAccountInAll: RateLimiterAbstract;
  private readonly byAddress: RateLimiterAbstract;

  constructor(store: SessionStore, opts: SignInThrottleOptions) {
    const { signInAccount, signInAccountInAll, signInAddress } = storeKeys.limiters;
    this.byAccount = store.rateLimiter({ name: signInAccount, points: opts.accountMaxFailures, durationSec: opts.accountWindowSec });
    this.byAccountInAll = store.rateLimiter({
      name: signInAccountInAll,
      points: opts.accountMaxFailures * ACCOUNT_IN_ALL_FACTOR,
      durationSec: opts.accountWindowSec,
    });
    this.byAddress = store.rateLimiter({ name: signInAddress, points: opts.addressMaxAttempts, durationSec: opts.addressWindowSec });
  }

  /** Throws 429 when this address or this account may not try now; otherwise counts the attempt as a failure. */
  async admit(account: string, address: string, scope: FailureScope = 'account'): Promise<SignInAttempt> {
    const from = addressKey(address);
    await consumeOrRefuse(this.byAddress, from, 'sign-in attempts');
    // Hashed: account names here may be S3 access key ids, which the store never holds in the clear.
    const name = createHash('sha256').update(account).digest('base64url');
    // On success the owner's own count is forgotten; a public name's count in all only gets its point
    // back (its owner signing in must not reopen the guessing from everywhere else).
    const taken: Counted[] =
      scope === 'account'
        ? [{ limiter: this.byAccount, key: name, forgetOnSuccess: true }]
        : [
            { limiter: this.byAccountInAll, key: name, forgetOnSuccess: false },
            { limiter: this.byAccount, key: `${name}@${from}`, forgetOnSuccess: true },
          ];
    const given: Counted[] = [];
    const giveBack = async () => {
      for (const c of given) await c.limiter.reward(c.key, 1);
    };
    try {
      for (const c of taken) {
        await consumeOrRefuse(c.limiter, c.key, 'sign-in attempts');
        given.push(c);
      }
    } catch (err) {
      await giveBack().catch(() => undefined);
      throw err;
    }
    return {
      succeeded: () => storeCall(() => Promise.all(given.map((c) => (c.forgetOnSuccess ? c.limiter.delete(c.key) : c.limiter.reward(c.key, 1))))),
      undecided: () => storeCall(giveBack),
    };
  }
}

interface Counted {
  limiter: RateLimiterAbstract;
  key: string;
  forgetOnSuccess: boolean;
}

/** The global bound on one public account name's failures, as a multiple of the per-address one. */
export const ACCOUNT_IN_ALL_FACTOR = 10;

async function storeCall(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    throw storeUnavailable(err);
  }
}
