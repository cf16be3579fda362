import { fieldError, GatewayError } from '../../errors.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string; attempts?: number };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ENETUNREACH']);

export function s3ErrorName(err: unknown): string | undefined {
  return (err as SdkError | undefined)?.name;
}

export function s3Status(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** 404 from S3, whatever the server calls it (HEAD answers carry no error name). */
export function isNotFound(err: unknown): boolean {
  const name = s3ErrorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || (s3Status(err) === 404 && name !== 'NoSuchBucket');
}

/**
 * The one mapping from an S3 failure to what the client hears. The SDK's own message can carry request
 * details, so clients get ours; the operator's log gets the S3 error name and request id.
 */
export function fromS3Error(err: unknown, operation: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = (err ?? {}) as SdkError;
  const status = s3Status(err);
  const logDetails: Record<string, string | number> = { s3Operation: operation };
  if (e.name) logDetails.s3Error = e.name;
  if (status) logDetails.s3Status = status;
  if (e.$metadata?.requestId) logDetails.s3RequestId = e.$metadata.requestId;
  const opts = { cause: err, logDetails, origin: 's3' as const };

  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || e.name === 'RequestTimeout' || e.name === 'AbortError') {
    return new GatewayError('timeout', `S3 did not answer ${operation} in time; try again.`, opts);
  }
  // No HTTP answer at all (refused, reset, unreachable): S3 is away, not misbehaving.
  const noAnswer = e.$metadata !== undefined && status === undefined;
  if ((e.code && NETWORK_CODES.has(e.code)) || noAnswer || status === 503 || e.name === 'SlowDown' || e.name === 'ServiceUnavailable') {
    return new GatewayError('unavailable', `S3 is temporarily unavailable (${operation}); try again shortly.`, { ...opts, retryAfterSec: 5 });
  }
  if (e.name === 'AccessDenied' || status === 403) {
    return new GatewayError('forbidden', `S3 refused ${operation}: access denied.`, opts);
  }
  if (e.name === 'PreconditionFailed' || e.name === 'ConditionalRequestConflict' || status === 412) {
    return new GatewayError('conflict', 'The object already exists or changed meanwhile.', opts);
  }
  if (e.name === 'InvalidRange' || status === 416) {
    return fieldError('unsatisfiable', { field: 'range', problem: 'the requested range is not within the file.' }, opts);
  }
  if (e.name === 'NoSuchBucket') {
    return new GatewayError('bad_gateway', `The gateway's S3 bucket does not exist (${operation}); the operator must create it or fix S3_BUCKET.`, opts);
  }
  if (isNotFound(err)) return new GatewayError('not_found', 'No such file or folder.', opts);
  return new GatewayError('bad_gateway', `S3 answered ${operation} unexpectedly (${e.name ?? 'error'}${status ? ` ${status}` : ''}).`, opts);
}
