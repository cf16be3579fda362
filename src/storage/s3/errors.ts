import { GatewayError } from '../../core/errors.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ENETUNREACH']);

export function s3ErrorName(err: unknown): string | undefined {
  return (err as SdkError | undefined)?.name;
}

export function s3Status(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/**
 * Turns an S3 failure that no caller handled into what the client should hear: 503 when S3 is away,
 * 504 when it did not answer in time, 502 for anything else it said. Never the raw SDK message, which
 * can carry request details.
 */
export function fromS3Error(err: unknown, operation: string): GatewayError {
  const e = (err ?? {}) as SdkError;
  const status = s3Status(err);
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || e.name === 'RequestTimeout') {
    return new GatewayError('timeout', `S3 did not answer ${operation} in time.`, { cause: err });
  }
  if ((e.code && NETWORK_CODES.has(e.code)) || status === 503 || e.name === 'SlowDown') {
    return new GatewayError('unavailable', `S3 is temporarily unavailable (${operation}); try again shortly.`, {
      retryAfterSec: 5,
      cause: err,
    });
  }
  return new GatewayError('bad_gateway', `S3 answered ${operation} unexpectedly (${e.name ?? 'error'}${status ? ` ${status}` : ''}).`, {
    cause: err,
  });
}
