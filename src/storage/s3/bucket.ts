import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
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

export interface ObjectStream {
  body: Readable;
  /** 200, or 206 for a satisfied range. */
  status: 200 | 206;
  contentLength: number;
  contentRange: string | undefined;
  contentType: string | undefined;
  etag: string;
  lastModified: Date;
}

export interface NewObject {
  contentType: string;
  metadata: Record<string, string>;
  /** Refuse (412) when the key already holds an object, where the server honours conditional writes. */
  mustNotExist?: boolean;
}

export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated: Date;
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

  private async copyInParts(from: ObjectSummary, toKey: string, override?: ObjectHead): Promise<{ etag: string | undefined }> {
    const current = await this.head(from.key);
    if (!current) throw fromS3Error(Object.assign(new Error('gone'), { name: 'NoSuchKey' }), 'UploadPartCopy');
    const source = override ? { ...current, metadata: override.metadata, contentType: override.contentType } : current;
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

  /**
   * Streams a body into an object through lib-storage: one PUT below the part size, a multipart upload
   * above it, holding at most partSize × queueSize bytes. A body that errors (size or hash mismatch,
   * client gone) aborts the upload, so nothing becomes visible.
   */
  async upload(
    key: string,
    body: Readable,
    object: NewObject,
    transfer: { partSize: number; queueSize: number; onMultipart?: (uploadId: string) => void },
  ): Promise<void> {
    const upload = new Upload({
      client: this.client,
      partSize: transfer.partSize,
      queueSize: transfer.queueSize,
      leavePartsOnError: false,
      params: {
        Bucket: this.name,
        Key: key,
        Body: body,
        ContentType: object.contentType,
        Metadata: object.metadata,
        ...(object.mustNotExist ? { IfNoneMatch: '*' } : {}),
      },
    });
    // lib-storage reports its multipart upload id only as a property; watch for it so the caller can
    // record the upload as soon as it exists (a process killed later leaves a known orphan).
    const watch =
      transfer.onMultipart &&
      setInterval(() => {
        if (upload.uploadId) {
          clearInterval(watch);
          transfer.onMultipart!(upload.uploadId);
        }
      }, 100);
    body.once('error', () => void upload.abort().catch(() => undefined));
    try {
      await upload.done();
    } catch (err) {
      // The body's own error (a GatewayError: mismatch, hang-up) says more than the SDK's wrapper.
      throw fromS3Error(body.errored ?? err, 'PutObject');
    } finally {
      if (watch) clearInterval(watch);
    }
  }

  /** The object's bytes (a range of them); 'not-modified' when If-None-Match matched; undefined when missing. */
  async get(key: string, opts: { range?: string; ifNoneMatch?: string } = {}): Promise<ObjectStream | 'not-modified' | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: opts.range, IfNoneMatch: opts.ifNoneMatch }));
      return {
        body: r.Body as Readable,
        status: r.ContentRange ? 206 : 200,
        contentLength: r.ContentLength ?? 0,
        contentRange: r.ContentRange,
        contentType: r.ContentType,
        etag: r.ETag ?? '',
        lastModified: r.LastModified ?? new Date(0),
      };
    } catch (err) {
      if (s3Status(err) === 304) return 'not-modified';
      if (isNotFound(err)) return undefined;
      throw fromS3Error(err, 'GetObject');
    }
  }

  /** A short-lived URL that lets its holder GET the object straight from S3. */
  presignGet(key: string, ttlSec: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.name, Key: key }), { expiresIn: ttlSec });
  }

  /** Rewrites an object's metadata in place (a copy onto itself); answers the new version's ETag if known. */
  async replaceMetadata(head: ObjectHead, metadata: Record<string, string>): Promise<{ etag: string | undefined }> {
    const target = { ...head, metadata };
    if (head.size > this.options.multipartCopyThreshold) return this.copyInParts(head, head.key, target);
    try {
      const r = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.name,
          Key: head.key,
          CopySource: copySource(this.name, head.key),
          CopySourceIfMatch: head.etag,
          MetadataDirective: 'REPLACE',
          ContentType: head.contentType,
          Metadata: metadata,
        }),
      );
      return { etag: r.CopyObjectResult?.ETag || undefined };
    } catch (err) {
      throw fromS3Error(err, 'CopyObject');
    }
  }

  async createMultipart(key: string, object: NewObject): Promise<string> {
    try {
      const r = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.name, Key: key, ContentType: object.contentType, Metadata: object.metadata }),
      );
      if (!r.UploadId) throw new Error('no UploadId');
      return r.UploadId;
    } catch (err) {
      throw fromS3Error(err, 'CreateMultipartUpload');
    }
  }

  /** Streams one part of known length; the body's own error wins over the SDK's. */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Readable, length: number): Promise<string> {
    try {
      const r = await this.client.send(
        new UploadPartCommand({ Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: length }),
      );
      return r.ETag ?? '';
    } catch (err) {
      throw fromS3Error(body.errored ?? err, 'UploadPart');
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: Array<{ partNumber: number; etag: string }>, mustNotExist: boolean) {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          ...(mustNotExist ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (err) {
      throw fromS3Error(err, 'CompleteMultipartUpload');
    }
  }

  /** Aborts a multipart upload; one that is already gone counts as aborted. */
  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId }));
    } catch (err) {
      const name = s3ErrorName(err);
      if (name === 'NoSuchUpload' || isNotFound(err)) return;
      throw fromS3Error(err, 'AbortMultipartUpload');
    }
  }

  /** Multipart uploads in progress in the bucket, a page at a time. */
  async *listMultipartUploads(): AsyncGenerator<MultipartUpload[]> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let r;
      try {
        r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.name, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (err) {
        throw fromS3Error(err, 'ListMultipartUploads');
      }
      const uploads = (r.Uploads ?? [])
        .filter((u) => u.Key && u.UploadId)
        .map((u) => ({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated ?? new Date(0) }));
      if (uploads.length) yield uploads;
      if (!r.IsTruncated) return;
      keyMarker = r.NextKeyMarker;
      uploadIdMarker = r.NextUploadIdMarker;
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
