import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';

/**
 * What of a ListObjectsV2 output the gateway's own reader gives (and the gateway reads): the two readers
 * must agree on all of it.
 */
export function listProjection(o: ListObjectsV2CommandOutput) {
  const { httpStatusCode, requestId, extendedRequestId, cfId } = o.$metadata;
  return {
    $metadata: { httpStatusCode, requestId, extendedRequestId, cfId },
    Name: o.Name,
    Prefix: o.Prefix,
    Delimiter: o.Delimiter,
    MaxKeys: o.MaxKeys,
    KeyCount: o.KeyCount,
    IsTruncated: o.IsTruncated,
    ContinuationToken: o.ContinuationToken,
    NextContinuationToken: o.NextContinuationToken,
    StartAfter: o.StartAfter,
    EncodingType: o.EncodingType,
    RequestCharged: o.RequestCharged,
    Contents: o.Contents?.map((c) => ({ Key: c.Key, LastModified: c.LastModified, ETag: c.ETag, Size: c.Size, StorageClass: c.StorageClass })),
    CommonPrefixes: o.CommonPrefixes?.map((p) => ({ Prefix: p.Prefix })),
  };
}
