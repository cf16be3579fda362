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

/** One admitted sign-in attempt: it counts as a failure unless it gives its points back. */
export interface SignInAttempt {
  /** The credential was right, or nothing was learnt (S3 did not answer, no turn to check). */
  giveBack(): Promise<void>;
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

  /** Counts a sign-in begun from this address (an oauth sign-in, where the provider checks the password); 429 beyond the limit. */
  async admitAddress(address: string): Promise<void> {
    await consumeOrRefuse(this.byAddress, addressKey(address), 'sign-in attempts');
  }

  /** Throws 429 when this address or this account may not try now; otherwise counts the attempt as a failure. */
  async admit(account: string, address: string, scope: FailureScope = 'account'): Promise<SignInAttempt> {
    const from = addressKey(address);
    await consumeOrRefuse(this.byAddress, from, 'sign-in attempts');
    // Hashed: account names here may be S3 access key ids, which the store never holds in the clear.
    const name = createHash('sha256').update(account).digest('base64url');
    // A success gives its own point back and nothing more: an owner signing in never wipes out the
    // failures someone else is piling up against the name.
    const taken: Array<[RateLimiterAbstract, string]> =
      scope === 'account'
        ? [[this.byAccount, name]]
        : [
            [this.byAccountInAll, name],
            [this.byAccount, `${name}@${from}`],
          ];
    const given: Array<[RateLimiterAbstract, string]> = [];
    const giveBack = async () => {
      for (const [limiter, key] of given.splice(0)) await limiter.reward(key, 1);
    };
    try {
      for (const [limiter, key] of taken) {
        await consumeOrRefuse(limiter, key, 'sign-in attempts');
        given.push([limiter, key]);
      }
    } catch (err) {
      await giveBack().catch(() => undefined);
      throw err;
    }
    return { giveBack: () => storeCall(giveBack) };
  }
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
