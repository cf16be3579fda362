import { storeKeys } from '../store-keys.js';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { SessionStore } from '../../storage/session-store/types.js';
import { addressKey } from './client-address.js';
import { consumeOrRefuse } from './throttle.js';
import { tokenHash } from './tokens.js';

export interface RequestLimitOptions {
  /** Requests per window for one access token; 0: no limit. */
  perToken: number;
  /** Requests per window from one client address; 0: no limit. */
  perAddress: number;
  windowSec: number;
}

/**
 * Requests per access token and per client address, counted in the session store so that the limits hold
 * across every gateway instance on one Redis.
 */
export class RequestLimit {
  private readonly byToken: RateLimiterAbstract | undefined;
  private readonly byAddress: RateLimiterAbstract | undefined;

  constructor(store: SessionStore, opts: RequestLimitOptions) {
    if (opts.perToken > 0) this.byToken = store.rateLimiter({ name: storeKeys.limiters.requestsPerToken, points: opts.perToken, durationSec: opts.windowSec });
    if (opts.perAddress > 0)
      this.byAddress = store.rateLimiter({ name: storeKeys.limiters.requestsPerAddress, points: opts.perAddress, durationSec: opts.windowSec });
  }

  async admit(address: string, accessToken: string | undefined): Promise<void> {
    if (this.byAddress) await consumeOrRefuse(this.byAddress, addressKey(address), 'requests from this address');
    // Counted by the token's hash: the store never holds a token in the clear.
    if (this.byToken && accessToken) await consumeOrRefuse(this.byToken, tokenHash(accessToken), 'requests with this access token');
  }
}
