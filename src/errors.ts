/**
 * Failures the gateway's operations report. They carry meaning, not HTTP details: the HTTP layer maps
 * each kind to a status, so the core stays usable from any front end.
 */
export type ErrorKind =
  | 'invalid' // the client sent something wrong
  | 'unauthorized' // no usable session
  | 'forbidden' // not allowed, or a credential was refused
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'unsatisfiable' // a byte range outside the file
  | 'rate_limited'
  | 'unavailable' // S3 or the session store is down for now
  | 'bad_gateway' // S3 answered something we did not expect
  | 'timeout'; // S3 did not answer in time

export class GatewayError extends Error {
  readonly kind: ErrorKind;
  /** The request field (or header) the problem is about, when there is one. */
  readonly field: string | undefined;
  /** Seconds after which retrying makes sense (429, 503). */
  readonly retryAfterSec: number | undefined;
  /** Facts for the operator's log (an S3 request id, the S3 error name); never sent to the client. */
  readonly logDetails: Record<string, string | number> | undefined;
  /** Who said no: S3 (its answer, mapped), or the session store; undefined for the gateway's own checks. */
  readonly origin: 's3' | 'store' | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { field?: string; retryAfterSec?: number; cause?: unknown; logDetails?: Record<string, string | number>; origin?: 's3' | 'store' } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.kind = kind;
    this.field = opts.field;
    this.retryAfterSec = opts.retryAfterSec;
    this.logDetails = opts.logDetails;
    this.origin = opts.origin;
  }
}

export const invalid = (field: string, problem: string) => new GatewayError('invalid', `${field}: ${problem}`, { field });

/** The session store could not be reached: clients should retry shortly. */
export const storeUnavailable = (cause: unknown) =>
  new GatewayError('unavailable', 'The session store is temporarily unavailable; try again shortly.', {
    retryAfterSec: 5,
    cause,
    origin: 'store',
  });
