/**
 * What differs between S3 servers, as data. The gateway's code asks a profile what the server can do and
 * never asks which server it is: a new provider is a new row, not a new branch.
 */
export interface S3Profile {
  /** http://host/bucket/key rather than http://bucket.host/key. */
  forcePathStyle: boolean;
  /** The SDK's request and response checksums: WHEN_SUPPORTED is its default, which many servers reject. */
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** DeleteObjects works; else keys are deleted one request each. */
  bulkDelete: boolean;
  /** CopyObject onto the same key (to rewrite metadata) works. */
  copyToSelf: boolean;
  /**
   * Which writes honour `If-None-Match: *` (refuse to replace an object): `all` (PUT and
   * CompleteMultipartUpload), `put` (single-request PUT only), `none`. The gateway's own locks order its
   * writes either way; this is the last line of defence against writers that bypass them.
   */
  conditionalWrites: 'all' | 'put' | 'none';
  /** Copy-source conditions go (also) under the header name Ceph RGW reads, `x-amz-copy-if-match`. */
  legacyCopyConditions: boolean;
  /** Objects above this many bytes are copied part by part (CopyObject stops at 5 GiB). */
  multipartCopyCutoff: number;
  /** Most parts in one multipart upload. */
  maxParts: number;
  /** ListObjectsV2 pages with continuation tokens; else the server cuts at max-keys and the gateway pages. */
  paginates: boolean;
  /** A written object is at once readable and listed; else the gateway answers from what it wrote. */
  readAfterWrite: boolean;
  /** HEAD of a key ending in `/` (a folder marker) answers like any object; else markers are found by listing. */
  headFolders: boolean;
}

export const PROVIDERS = ['aws', 'minio', 'ceph', 'wasabi', 'r2', 'b2', 'cells', 'other'] as const;
export type Provider = (typeof PROVIDERS)[number];

const GiB = 1024 ** 3;

const s3Like: S3Profile = {
  forcePathStyle: true,
  checksums: 'WHEN_REQUIRED',
  bulkDelete: true,
  copyToSelf: true,
  conditionalWrites: 'none',
  legacyCopyConditions: false,
  multipartCopyCutoff: 5 * GiB,
  maxParts: 10_000,
  paginates: true,
  readAfterWrite: true,
  headFolders: true,
};

/**
 * One row per provider. Where a server's behaviour is not documented the row takes the safe side
 * (no conditions the server might not honour); `other` is safe everywhere. Conditional writes: AWS
 * documents If-None-Match on PutObject and CompleteMultipartUpload, R2 on both, MinIO on uploads of
 * either kind; Ceph RGW 16 honours it on PutObject but ignores it on CompleteMultipartUpload, and reads
 * a copy's source condition only as `x-amz-copy-if-match` (both measured with scripts/rgw). Wasabi, B2
 * and Cells document none of it. Some servers (R2) refuse multipart
 * uploads whose parts differ in size: no setting is needed for them, because every multipart path of
 * the gateway (streamed parts, segments, part copies) uses one part size.
 */
export const PROFILES: Record<Provider, S3Profile> = {
  aws: { ...s3Like, forcePathStyle: false, checksums: 'WHEN_SUPPORTED', conditionalWrites: 'all' },
  minio: { ...s3Like, conditionalWrites: 'all' },
  ceph: { ...s3Like, conditionalWrites: 'put', legacyCopyConditions: true },
  wasabi: { ...s3Like, forcePathStyle: false },
  r2: { ...s3Like, conditionalWrites: 'all' },
  b2: { ...s3Like, forcePathStyle: false },
  // Pydio Cells' S3 gateway (bucket `io`): no DeleteObjects, no copy onto itself, HEAD fails on folder
  // paths, listings are cut at max-keys without a token, and objects are indexed after the write returns.
  cells: { ...s3Like, bulkDelete: false, copyToSelf: false, paginates: false, readAfterWrite: false, headFolders: false },
  other: s3Like,
};

/** The provider's row with the operator's per-setting overrides on top. */
export function resolveProfile(provider: Provider, overrides: Partial<S3Profile>): S3Profile {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...PROFILES[provider], ...defined };
}
