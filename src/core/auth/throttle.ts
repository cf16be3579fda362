import { storeKeys } from '../store-keys.js';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { SessionStore } from '../../storage/session-store/types.js';
import { GatewayError, storeUnavailable } from '../../errors.js';

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

/**
 * Slows password guessing: every attempt counts against the client address, every failure against the
 * account name. Counters live in the session store, so with Redis they hold across gateway instances.
 */
export class SignInThrottle {
  private readonly byAccount: RateLimiterAbstract;
  private readonly byAddress: RateLimiterAbstract;

  constructor(
    store: SessionStore,
    private readonly opts: SignInThrottleOptions,
  ) {
    this.byAccount = store.rateLimiter({ name: storeKeys.limiters.signInAccount, points: opts.accountMaxFailures, durationSec: opts.accountWindowSec });
    this.byAddress = store.rateLimiter({ name: storeKeys.limiters.signInAddress, points: opts.addressMaxAttempts, durationSec: opts.addressWindowSec });
  }

  /** Throws 429 when this address or this account may not try now; counts the attempt otherwise. */
  async admit(accountName: string, address: string): Promise<void> {
    await consumeOrRefuse(this.byAddress, address, 'sign-in attempts');
    let failures: RateLimiterRes | null;
    try {
      failures = await this.byAccount.get(accountName);
    } catch (err) {
      throw storeUnavailable(err);
    }
    if (failures && failures.consumedPoints >= this.opts.accountMaxFailures) throw tooMany(failures.msBeforeNext);
  }

  async failed(accountName: string): Promise<void> {
    try {
      await this.byAccount.penalty(accountName, 1);
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  async succeeded(accountName: string): Promise<void> {
    try {
      await this.byAccount.delete(accountName);
    } catch (err) {
      throw storeUnavailable(err);
    }
  }
}
