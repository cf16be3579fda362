import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { fromS3Error, isNotFound, s3ErrorName, s3Status } from './errors.js';

export interface ObjectSummary {
  key: string;
  size: number;
  /** As S3 gives it, quotes included. */
  etag: string;
  lastModified: Date;
}

export interface ObjectHead extends ObjectSummary {
  contentType: string | undefined;
  /** User metadata (x-amz-meta-*), names in lower case. */
  metadata: Record<string, string>;
}

export interface ListPage {
  objects: ObjectSummary[];
  /** Common prefixes (sub-folders), when listed with a delimiter. */
  prefixes: string[];
  nextToken: string | undefined;
}

export interface BucketOptions {
  /** Objects above this size are copied part by part (S3 refuses CopyObject above 5 GiB). */
  multipartCopyThreshold: number;
  multipartCopyPartSize: number;
}

const MAX_DELETE_BATCH = 1000;

/** S3 wants the copy source URL-encoded, with the slashes between key segments kept. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function summary(o: { Key?: string; Size?: number; ETag?: string; LastModified?: Date }): ObjectSummary {
  return { key: o.Key ?? '', size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified ?? new Date(0) };
}

/** The bucket the gateway serves, reached only through the SDK client it was given. */
export class S3Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
    private readonly options: BucketOptions = { multipartCopyThreshold: 5 * 1024 ** 3, multipartCopyPartSize: 512 * 1024 ** 2 },
  ) {}

  /** Resolves when the bucket answers; rejects with a GatewayError saying why not. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
    } catch (err) {
      if (s3Status(err) === 404) throw fromS3Error(Object.assign(err as object, { name: 'NoSuchBucket' }), 'HeadBucket');
      throw fromS3Error(err, 'HeadBucket');
    }
  }

  /** Creates the bucket unless it exists (the embedded default starts with an empty store). */
  async ensureExists(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
      return;
    } catch (err) {
      if (s3Status(err) !== 404) throw fromS3Error(err, 'HeadBucket');
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.name }));
    } catch (err) {
      const name = s3ErrorName(err);
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw fromS3Error(err, 'CreateBucket');
    }
  }

  async list(prefix: string, opts: { delimiter?: string; token?: string; maxKeys?: number } = {}): Promise<ListPage> {
    try {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.name,
          Prefix: prefix,
          Delimiter: opts.delimiter,
          ContinuationToken: opts.token,
          MaxKeys: opts.maxKeys,
        }),
      );
      return {
        objects: (r.Contents ?? []).map(summary),
        prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter((p) => p !== ''),
        nextToken: r.IsTruncated ? r.NextContinuationToken : undefined,
      };
    } catch (err) {
      throw fromS3Error(err, 'ListObjectsV2');
    }
  }

  /** Every object under a prefix, a page at a time (so that no caller holds a whole tree at once). */
  async *listAll(prefix: string): AsyncGenerator<ObjectSummary[]> {
    let token: string | undefined;
    do {
      const page = await this.list(prefix, { token });
      if (page.objects.length) yield page.objects;
      token = page.nextToken;
    } while (token);
  }

  /** True when at least one key starts with the prefix. */
  async hasAny(prefix: string): Promise<boolean> {
    const page = await this.list(prefix, { maxKeys: 1 });
    return page.objects.length > 0 || page.prefixes.length > 0;
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        etag: r.ETag ?? '',
        lastModified: r.LastModified ?? new Date(0),
        contentType: r.ContentType,
        metadata: r.Metadata ?? {},
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw fromS3Error(err, 'HeadObject');
    }
  }

  async putEmpty(key: string, opts: { contentType: string; metadata: Record<string, string> }): Promise<{ etag: string }> {
    try {
      const r = await this.client.send(
        new PutObjectCommand({ Bucket: this.name, Key: key, Body: new Uint8Array(0), ContentLength: 0, ContentType: opts.contentType, Metadata: opts.metadata }),
      );
      return { etag: r.ETag ?? '' };
    } catch (err) {
      throw fromS3Error(err, 'PutObject');
    }
  }

  /**
   * Copies an object with its metadata and content type. The answer's ETag is the new object's, when
   * S3 gives it; above the multipart-copy threshold the copy goes part by part.
   */
  async copy(from: ObjectSummary, toKey: string): Promise<{ etag: string | undefined }> {
    if (from.size > this.options.multipartCopyThreshold) return this.copyInParts(from, toKey);
    try {
      const r = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.name,
          Key: toKey,
          CopySource: copySource(this.name, from.key),
          MetadataDirective: 'COPY',
        }),
      );
      return { etag: r.CopyObjectResult?.ETag || undefined };
    } catch (err) {
      throw fromS3Error(err, 'CopyObject');
    }
  }

  private async copyInParts(from: ObjectSummary, toKey: string): Promise<{ etag: string | undefined }> {
    const source = await this.head(from.key);
    if (!source) throw fromS3Error(Object.assign(new Error('gone'), { name: 'NoSuchKey' }), 'UploadPartCopy');
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.name, Key: toKey, ContentType: source.contentType, Metadata: source.metadata }),
      );
      uploadId = created.UploadId;
      const parts: Array<{ ETag: string; PartNumber: number }> = [];
      const partSize = this.options.multipartCopyPartSize;
      for (let start = 0, n = 1; start < source.size; start += partSize, n++) {
        const end = Math.min(start + partSize, source.size) - 1;
        const r = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.name,
            Key: toKey,
            UploadId: uploadId,
            PartNumber: n,
            CopySource: copySource(this.name, from.key),
            CopySourceRange: `bytes=${start}-${end}`,
            // the source must not change while its parts are copied
            CopySourceIfMatch: source.etag,
          }),
        );
        parts.push({ ETag: r.CopyPartResult?.ETag ?? '', PartNumber: n });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.name, Key: toKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
      uploadId = undefined;
      // Some servers answer CompleteMultipartUpload with an empty ETag: leave it unknown rather than wrong.
      return { etag: undefined };
    } catch (err) {
      throw fromS3Error(err, 'UploadPartCopy');
    } finally {
      if (uploadId) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: toKey, UploadId: uploadId }))
          .catch(() => undefined);
      }
    }
  }

  async deleteOne(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
    } catch (err) {
      throw fromS3Error(err, 'DeleteObject');
    }
  }

  /** Deletes keys in batches of up to 1000; any key S3 reports as not deleted fails the call. */
  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += MAX_DELETE_BATCH) {
      const batch = keys.slice(i, i + MAX_DELETE_BATCH);
      let errors: Array<{ Key?: string; Code?: string }> | undefined;
      try {
        const r = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        errors = r.Errors;
      } catch (err) {
        throw fromS3Error(err, 'DeleteObjects');
      }
      if (errors?.length) {
        const first = errors[0]!;
        throw fromS3Error(Object.assign(new Error(first.Code ?? 'error'), { name: first.Code ?? 'DeleteError' }), 'DeleteObjects');
      }
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
