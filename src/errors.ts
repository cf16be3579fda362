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

/**
 * What a request field means. Core and storage name fields by meaning; each dialect of the HTTP API names
 * them on the wire (src/http/dialects.ts), so every client sees its own field names in errors.
 */
export type Field =
  | 'id' // the file or folder id in the request's path
  | 'fileId' // a file's id in a request body
  | 'parentId' // the folder a new file goes into, in a request body
  | 'name'
  | 'modified'
  | 'size'
  | 'sha256'
  | 'newName'
  | 'newParentId'
  | 'refreshToken'
  | 'oauthState' // the state of an oauth sign-in, which the client collects its tokens with
  | 'page'
  | 'body'
  | 'range'
  | 'uploadHeader' // the JSON header that declares a streamed upload
  | 'segmentHeader' // the JSON header that declares one segment of a segmented upload
  | 'uploadId'
  | 'cookie' // the secret that proves a client started a segmented upload
  | 'segments'
  | 'segmentNumber'
  | 'segmentSize'
  | 'segmentSha256'
  | `form.${string}`; // a field of the sign-in form, as the sign-in method publishes it

/** The field a problem is about; `within` places it in one item of a list field (a segment of a plan). */
export interface FieldProblem {
  field: Field;
  problem: string;
  within?: { field: Field; index: number };
}

/** A field's place as a path of meanings, e.g. `segments[2].segmentSize`, for logs and tests. */
export const fieldPath = (p: Omit<FieldProblem, 'problem'>, name: (f: Field) => string = (f) => f) =>
  p.within ? `${name(p.within.field)}[${p.within.index}].${name(p.field)}` : name(p.field);

export interface GatewayErrorOptions {
  about?: FieldProblem;
  retryAfterSec?: number;
  cause?: unknown;
  logDetails?: Record<string, string | number>;
  origin?: 's3' | 'store';
}

export class GatewayError extends Error {
  readonly kind: ErrorKind;
  /** The request field the problem is about, when there is one (the message then starts with its path). */
  readonly about: FieldProblem | undefined;
  /** Seconds after which retrying makes sense (429, 503). */
  readonly retryAfterSec: number | undefined;
  /** Facts for the operator's log (an S3 request id, the S3 error name); never sent to the client. */
  readonly logDetails: Record<string, string | number> | undefined;
  /** Who said no: S3 (its answer, mapped), or the session store; undefined for the gateway's own checks. */
  readonly origin: 's3' | 'store' | undefined;

  constructor(kind: ErrorKind, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.kind = kind;
    this.about = opts.about;
    this.retryAfterSec = opts.retryAfterSec;
    this.logDetails = opts.logDetails;
    this.origin = opts.origin;
  }

  /** The field by meaning (`segmentSize`), or undefined. */
  get field(): Field | undefined {
    return this.about?.field;
  }
}

/** A problem with one request field: its message is `<field>: <problem>`, each dialect naming the field its way. */
export function fieldError(kind: ErrorKind, about: FieldProblem, opts: Omit<GatewayErrorOptions, 'about'> = {}): GatewayError {
  return new GatewayError(kind, `${fieldPath(about)}: ${about.problem}`, { ...opts, about });
}

export const invalid = (field: Field, problem: string, within?: FieldProblem['within']) =>
  fieldError('invalid', { field, problem, ...(within ? { within } : {}) });

/** The session store could not be reached: clients should retry shortly. */
export const storeUnavailable = (cause: unknown) =>
  new GatewayError('unavailable', 'The session store is temporarily unavailable; try again shortly.', {
    retryAfterSec: 5,
    cause,
    origin: 'store',
  });
