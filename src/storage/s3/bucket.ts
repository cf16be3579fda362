import { createHash } from 'node:crypto';
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
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import pLimit from 'p-limit';
import { fromS3Error, isNotFound, s3ErrorName, s3Status } from './errors.js';
import { knownEtag, quoted, sameEtag, unquoted } from './etags.js';
import { S3_MAX_KEY_BYTES } from './limits.js';
import { PROFILES, type S3Profile } from './profiles.js';
import {
  anyUnder,
  pagesUnder,
  type BucketStore,
  type ListOptions,
  type ListPage,
  type NewObject,
  type ObjectHead,
  type ObjectStream,
  type ObjectSummary,
  type StagedObject,
} from '../bucket-store.js';

export type { CommittedObject, ListPage, NewObject, ObjectHead, ObjectStream, ObjectSummary, StagedObject } from '../bucket-store.js';

export interface BucketOptions {
  /** What this server can do. */
  profile: S3Profile;
  multipartCopyPartSize: number;
  /** Requests at once when keys must be deleted one by one. */
  deleteConcurrency: number;
}

const MAX_DELETE_BATCH = 1000;
/** Asked of a server that does not paginate, so that it cuts nothing off. */
const UNPAGED_MAX_KEYS = 1_000_000;

/** S3 wants the copy source URL-encoded, with the slashes between key segments kept. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The ETag S3 gives a completed multipart upload (MD5 of the parts' MD5s, dash, part count): for servers
 * that answer CompleteMultipartUpload with an empty one (Ceph RGW). Undefined unless every part's ETag is an MD5.
 */
function multipartEtag(parts: Array<{ etag: string }>): string | undefined {
  const md5s = parts.map((p) => unquoted(p.etag));
  if (md5s.length === 0 || md5s.some((m) => !/^[0-9a-f]{32}$/i.test(m))) return undefined;
  const hash = createHash('md5');
  for (const m of md5s) hash.update(Buffer.from(m, 'hex'));
  return `"${hash.digest('hex')}-${md5s.length}"`;
}

function summary(o: { Key?: string; Size?: number; ETag?: string; LastModified?: Date }): ObjectSummary {
  return { key: o.Key ?? '', size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified ?? new Date(0) };
}

/** The bucket the gateway serves, reached only through the SDK client it was given. */
export class S3Bucket implements BucketStore {
  constructor(
    readonly client: S3Client,
    readonly name: string,
    private readonly options: BucketOptions = { profile: PROFILES.other, multipartCopyPartSize: 512 * 1024 ** 2, deleteConcurrency: 16 },
    /** The endpoint's name when it is not the gateway's own S3 (see BucketStore.scope). */
    private readonly endpointName?: string,
  ) {}

  get server(): string {
    return this.endpointName ?? '';
  }

  get scope(): string {
    return this.endpointName === undefined ? this.name : `${this.endpointName}/${this.name}`;
  }

  get profile(): S3Profile {
    return this.options.profile;
  }

  /** Resolves when the bucket answers; rejects with a GatewayError saying why not. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
    } catch (err) {
      if (s3Status(err) === 404) throw fromS3Error(Object.assign(err as object, { name: 'NoSuchBucket' }), 'HeadBucket');
      throw fromS3Error(err, 'HeadBucket');
    }
  }

  /** One cheap request that needs the right to list the bucket: how sign-in checks a person's keys. */
  async probe(): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.name, MaxKeys: 1 }));
    } catch (err) {
      throw fromS3Error(err, 'ListObjectsV2');
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

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    if (!this.profile.paginates) return this.listUnpaged(prefix, opts);
    try {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.name,
          Prefix: prefix,
          Delimiter: opts.delimiter,
          ContinuationToken: opts.token,
          StartAfter: opts.token === undefined ? opts.startAfter : undefined,
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

  /**
   * For servers that cut a listing at max-keys without saying so: ask for everything, then page here.
   * The token is the last key or prefix of the previous page.
   */
  private async listUnpaged(prefix: string, opts: ListOptions): Promise<ListPage> {
    let r;
    try {
      // A first page can be cut by the server: one key more than wanted says whether there are more.
      const first = opts.token === undefined && opts.startAfter === undefined;
      const maxKeys = first && opts.maxKeys !== undefined ? opts.maxKeys + 1 : UNPAGED_MAX_KEYS;
      r = await this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, Delimiter: opts.delimiter, MaxKeys: maxKeys }));
    } catch (err) {
      throw fromS3Error(err, 'ListObjectsV2');
    }
    const after = Buffer.from(opts.token ?? opts.startAfter ?? '');
    const items = [
      ...(r.Contents ?? []).map((o) => ({ key: o.Key ?? '', object: summary(o) })),
      ...(r.CommonPrefixes ?? []).map((p) => ({ key: p.Prefix ?? '', object: undefined })),
    ]
      .map((i) => ({ ...i, bytes: Buffer.from(i.key) }))
      .filter((i) => i.key !== '' && Buffer.compare(i.bytes, after) > 0)
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
    const page = items.slice(0, opts.maxKeys ?? 1000);
    return {
      objects: page.flatMap((i) => (i.object ? [i.object] : [])),
      prefixes: page.flatMap((i) => (i.object ? [] : [i.key])),
      nextToken: items.length > page.length ? page[page.length - 1]!.key : undefined,
    };
  }

  /** Every object under a prefix, a page at a time (so that no caller holds a whole tree at once). */
  listAll(prefix: string): AsyncGenerator<ObjectSummary[]> {
    return pagesUnder(this, prefix);
  }

  /** True when at least one key starts with the prefix. */
  hasAny(prefix: string): Promise<boolean> {
    return anyUnder(this, prefix);
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    // No object can have a longer key, and some servers (Ceph RGW) answer such a HEAD with a bare 400.
    if (Buffer.byteLength(key, 'utf8') > S3_MAX_KEY_BYTES) return undefined;
    if (key.endsWith('/') && !this.profile.headFolders) {
      // The marker sorts first among the keys it starts.
      const first = (await this.list(key, { maxKeys: 1 })).objects[0];
      return first?.key === key ? { ...first, contentType: undefined, metadata: {} } : undefined;
    }
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
        new PutObjectCommand({
          Bucket: this.name,
          Key: key,
          Body: new Uint8Array(0),
          ContentLength: 0,
          ContentType: opts.contentType,
          Metadata: opts.metadata,
        }),
      );
      return { etag: knownEtag(r.ETag) ?? '' };
    } catch (err) {
      throw fromS3Error(err, 'PutObject');
    }
  }

  /**
   * Copies an object with its metadata and content type. The answer's ETag is the new object's, when
   * S3 gives it; above the multipart-copy threshold the copy goes part by part.
   */
  async copy(from: ObjectSummary, toKey: string, fromBucket = this.name): Promise<{ etag: string | undefined }> {
    if (from.size > this.profile.multipartCopyCutoff) {
      if (fromBucket !== this.name) throw new Error('objects above the multipart-copy cutoff are copied between buckets by streaming them');
      return this.copyInParts(from, toKey);
    }
    try {
      const r = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.name,
          Key: toKey,
          CopySource: copySource(fromBucket, from.key),
          MetadataDirective: 'COPY',
          ...(from.etag ? { CopySourceIfMatch: quoted(from.etag) } : {}),
        }),
      );
      return { etag: knownEtag(r.CopyObjectResult?.ETag) };
    } catch (err) {
      throw fromS3Error(err, 'CopyObject');
    }
  }

  private async copyInParts(from: ObjectSummary, toKey: string, override?: ObjectHead): Promise<{ etag: string | undefined }> {
    const current = await this.head(from.key);
    if (!current) throw fromS3Error(Object.assign(new Error('gone'), { name: 'NoSuchKey' }), 'UploadPartCopy');
    // The version the caller read (inside its lock) is the one to copy; a newer one is a conflict.
    if (from.etag && !sameEtag(current.etag, from.etag))
      throw fromS3Error(Object.assign(new Error('changed'), { name: 'PreconditionFailed' }), 'UploadPartCopy');
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
            CopySourceIfMatch: quoted(source.etag),
          }),
        );
        parts.push({ ETag: r.CopyPartResult?.ETag ?? '', PartNumber: n });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.name, Key: toKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      uploadId = undefined;
      // Some servers answer CompleteMultipartUpload with an empty ETag: leave it unknown rather than wrong.
      return { etag: undefined };
    } catch (err) {
      throw fromS3Error(err, 'UploadPartCopy');
    } finally {
      if (uploadId) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: toKey, UploadId: uploadId })).catch(() => undefined);
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
    if (!this.profile.bulkDelete) {
      const limit = pLimit(this.options.deleteConcurrency);
      await Promise.all(keys.map((k) => limit(() => this.deleteOne(k))));
      return;
    }
    for (let i = 0; i < keys.length; i += MAX_DELETE_BATCH) {
      const batch = keys.slice(i, i + MAX_DELETE_BATCH);
      let errors: Array<{ Key?: string; Code?: string }> | undefined;
      try {
        const r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
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
   * Stages a body of known size: a body that errors (size or hash mismatch, client gone) leaves nothing.
   * Up to one part, the bytes are read into memory (one part buffer) and sent with the commit's single
   * PUT. Above it, they stream into a multipart upload through a fixed pool of queueSize + 1 part buffers
   * that are reused: lib-storage's stream chunker copies every part (Buffer.concat) and keeps the
   * previous one alive through the remainder it slices off, so with it a transfer holds three parts or
   * more at once, and leaves a part of garbage per part.
   */
  async stage(
    key: string,
    body: Readable,
    object: NewObject,
    transfer: { size: number; partSize: number; queueSize: number; onMultipart?: (uploadId: string) => Promise<void> },
  ): Promise<StagedObject> {
    if (transfer.size > transfer.partSize) return this.stageInParts(key, body, object, transfer);
    const bytes = Buffer.allocUnsafe(transfer.size);
    let filled = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) filled += chunk.copy(bytes, filled);
    return this.bufferedObject(key, bytes.subarray(0, filled), object.contentType);
  }

  private bufferedObject(key: string, held: Buffer, contentType: string): StagedObject {
    let bytes: Buffer | undefined = held;
    return {
      key,
      size: held.length,
      commit: async ({ mustNotExist, metadata }) => {
        if (!bytes) throw new Error('already committed');
        try {
          const r = await this.client.send(
            new PutObjectCommand({
              Bucket: this.name,
              Key: key,
              Body: bytes,
              ContentLength: bytes.length,
              ContentType: contentType,
              Metadata: metadata,
              ...(mustNotExist && this.profile.conditionalWrites !== 'none' ? { IfNoneMatch: '*' } : {}),
            }),
          );
          bytes = undefined;
          return { etag: knownEtag(r.ETag), metadata };
        } catch (err) {
          throw fromS3Error(err, 'PutObject');
        }
      },
      discard: async () => {
        bytes = undefined;
      },
    };
  }

  multipartObject: BucketStore['multipartObject'] = (key, uploadId, size, parts, metadata) => {
    let done = false;
    return {
      key,
      size,
      commit: async ({ mustNotExist }) => {
        const completed = await this.completeMultipart(key, uploadId, parts, mustNotExist && this.profile.conditionalWrites === 'all');
        done = true;
        return { etag: completed.etag ?? multipartEtag(parts), metadata };
      },
      discard: async () => {
        if (!done) await this.abortMultipart(key, uploadId);
      },
    };
  };

  private async stageInParts(
    key: string,
    body: Readable,
    object: NewObject,
    transfer: { size: number; partSize: number; queueSize: number; onMultipart?: (uploadId: string) => Promise<void> },
  ): Promise<StagedObject> {
    const uploadId = await this.createMultipart(key, object);
    // No part is stored before the caller has recorded the upload (so that a killed process's orphan is
    // found and aborted): the only window left is an upload without parts, which holds no bytes.
    try {
      await transfer.onMultipart?.(uploadId);
    } catch (err) {
      await this.abortMultipart(key, uploadId).catch(() => undefined);
      throw err;
    }
    const pool: Buffer[] = [];
    const inFlight = new Set<Promise<void>>();
    const parts: Array<{ partNumber: number; etag: string }> = [];
    let failure: { error: unknown } | undefined; // boxed: whatever was thrown, even undefined, counts
    const send = (buffer: Buffer, length: number, partNumber: number) => {
      const sent: Promise<void> = this.uploadPart(key, uploadId, partNumber, buffer.subarray(0, length), length)
        .then((etag) => void parts.push({ partNumber, etag }))
        .catch((err: unknown) => void (failure ??= { error: err }))
        .finally(() => {
          pool.push(buffer);
          inFlight.delete(sent);
        });
      inFlight.add(sent);
    };
    try {
      let buffer: Buffer = Buffer.allocUnsafe(transfer.partSize);
      let filled = 0;
      let partNumber = 1;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.length;) {
          const n = chunk.copy(buffer, filled, offset);
          filled += n;
          offset += n;
          if (filled === buffer.length) {
            send(buffer, filled, partNumber++);
            // Reading waits while the queue is full: the client is slowed to S3's pace (backpressure).
            while (inFlight.size >= transfer.queueSize) await Promise.race(inFlight);
            if (failure) throw failure.error;
            buffer = pool.pop() ?? Buffer.allocUnsafe(transfer.partSize);
            filled = 0;
          }
        }
      }
      if (filled > 0 || partNumber === 1) send(buffer, filled, partNumber);
      await Promise.all(inFlight);
      if (failure) throw failure.error;
    } catch (err) {
      await Promise.allSettled(inFlight);
      await this.abortMultipart(key, uploadId).catch(() => undefined);
      throw fromS3Error(body.errored ?? err, 'UploadPart');
    }
    parts.sort((a, b) => a.partNumber - b.partNumber);
    return this.multipartObject(key, uploadId, transfer.size, parts, object.metadata);
  }

  /** The object's bytes (a range of them); undefined when missing. */
  async get(key: string, opts: { range?: string | undefined } = {}): Promise<ObjectStream | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: opts.range }));
      const total = r.ContentRange ? Number(/\/(\d+)$/.exec(r.ContentRange)?.[1]) : undefined;
      return {
        body: r.Body as Readable,
        status: r.ContentRange ? 206 : 200,
        contentLength: r.ContentLength ?? 0,
        size: total ?? r.ContentLength ?? 0,
        contentRange: r.ContentRange,
        contentType: r.ContentType,
        etag: r.ETag ?? '',
        lastModified: r.LastModified ?? new Date(0),
        metadata: r.Metadata ?? {},
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw fromS3Error(err, 'GetObject');
    }
  }

  /** A short-lived URL that lets its holder GET the object straight from S3. */
  presignGet(key: string, ttlSec: number, response: { contentDisposition?: string } = {}): Promise<string> {
    const get = new GetObjectCommand({ Bucket: this.name, Key: key, ResponseContentDisposition: response.contentDisposition });
    return getSignedUrl(this.client, get, { expiresIn: ttlSec });
  }

  /**
   * Rewrites the metadata of the version `head` describes, in place (a copy onto itself, refused with 409
   * when the object is another version by then); answers the new version's ETag if known.
   */
  async replaceMetadata(head: ObjectHead, metadata: Record<string, string>): Promise<{ etag: string | undefined }> {
    const target = { ...head, metadata };
    if (head.size > this.profile.multipartCopyCutoff) return this.copyInParts(head, head.key, target);
    try {
      const r = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.name,
          Key: head.key,
          CopySource: copySource(this.name, head.key),
          CopySourceIfMatch: quoted(head.etag),
          MetadataDirective: 'REPLACE',
          ContentType: head.contentType,
          Metadata: metadata,
        }),
      );
      return { etag: knownEtag(r.CopyObjectResult?.ETag) };
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

  /**
   * Streams one part of known length. A body that fails (mismatch, client gone) cancels the request to S3,
   * which then never receives a whole part; the body's own error wins over the SDK's.
   */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Readable | Buffer, length: number): Promise<string> {
    const cancel = new AbortController();
    const onError = () => cancel.abort();
    const stream = Buffer.isBuffer(body) ? undefined : body;
    stream?.once('error', onError);
    try {
      const r = await this.client.send(
        new UploadPartCommand({ Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: length }),
        { abortSignal: cancel.signal },
      );
      return r.ETag ?? '';
    } catch (err) {
      throw fromS3Error(stream?.errored ?? err, 'UploadPart');
    } finally {
      stream?.off('error', onError);
    }
  }

  private async completeMultipart(
    key: string,
    uploadId: string,
    parts: Array<{ partNumber: number; etag: string }>,
    ifNoneMatch: boolean,
  ): Promise<{ etag: string | undefined }> {
    try {
      const r = await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return { etag: knownEtag(r.ETag) };
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

  destroy(): void {
    this.client.destroy();
  }
}
