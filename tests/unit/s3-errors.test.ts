import { GatewayError } from '../../src/errors.js';
import { fromS3Error } from '../../src/storage/s3/errors.js';

const sdkError = (name: string, status?: number, extra: object = {}) =>
  Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status, requestId: 'REQ123' }, ...extra });

describe('S3 failures as gateway statuses', () => {
  it.each([
    ['AccessDenied', 403, 'forbidden'],
    ['NoSuchKey', 404, 'not_found'],
    ['NotFound', 404, 'not_found'],
    ['NoSuchBucket', 404, 'bad_gateway'],
    ['SlowDown', 503, 'unavailable'],
    ['ServiceUnavailable', 503, 'unavailable'],
    ['TimeoutError', undefined, 'timeout'],
    ['InternalError', 500, 'bad_gateway'],
    ['SomethingNew', 400, 'bad_gateway'],
  ])('%s (%s) → %s', (name, status, kind) => {
    const err = fromS3Error(sdkError(name, status), 'GetObject');
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.kind).toBe(kind);
    expect(err.logDetails).toMatchObject({ s3Operation: 'GetObject', s3Error: name, s3RequestId: 'REQ123' });
    expect(err.message).not.toContain('happened'); // the SDK's text is for the log, not the client
  });

  it('asks clients to come back later when S3 is away', () => {
    const refused = fromS3Error(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'HeadObject');
    expect(refused.kind).toBe('unavailable');
    expect(refused.retryAfterSec).toBeGreaterThan(0);
    expect(fromS3Error(sdkError('SlowDown', 503), 'PutObject').retryAfterSec).toBeGreaterThan(0);
    // the SDK's report of a request that got no HTTP answer at all, whatever its error code says
    const unanswered = Object.assign(new Error('socket closed'), { $metadata: { attempts: 3, totalRetryDelay: 900 } });
    expect(fromS3Error(unanswered, 'ListObjectsV2').kind).toBe('unavailable');
  });

  it('tells the operator what to fix when the bucket is missing', () => {
    expect(fromS3Error(sdkError('NoSuchBucket', 404), 'ListObjectsV2').message).toMatch(/S3_BUCKET/);
  });

  it('passes gateway errors through unchanged', () => {
    const own = new GatewayError('conflict', 'x');
    expect(fromS3Error(own, 'CopyObject')).toBe(own);
  });
});
