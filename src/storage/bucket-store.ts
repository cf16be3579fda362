import type { Readable } from 'node:stream';
import type { S3Profile } from './s3/profiles.js';

/**
 * The bucket operations the gateway's core uses, free of the SDK: the S3 adapter (`s3/bucket.ts`)
 * implements them, and core depends on nothing else of it.
 */

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

export interface ListOptions {
  delimiter?: string;
  /** A continuation token of the previous page. */
  token?: string;
  /** Only keys after this one (ignored with a token). */
  startAfter?: string;
  maxKeys?: number;
}

export interface ObjectStream {
  body: Readable;
  /** 200, or 206 for a satisfied range. */
  status: 200 | 206;
  /** Bytes in this answer (the range's, for a range). */
  contentLength: number;
  /** The whole object's size. */
  size: number;
  contentRange: string | undefined;
  contentType: string | undefined;
  etag: string;
  lastModified: Date;
  /** User metadata (x-amz-meta-*), names in lower case. */
  metadata: Record<string, string>;
}

export interface NewObject {
  contentType: string;
  metadata: Record<string, string>;
}

/** What a commit wrote: the new version's ETag when known, and the metadata it carries. */
export interface CommittedObject {
  etag: string | undefined;
  metadata: Record<string, string>;
}

/**
 * Bytes that are in S3 (or, up to one part, in memory) but not yet visible under their key: an upload is
 * staged first, without holding up anyone, and committed in one short step (a PUT, or completing the
 * multipart upload), which is when the key changes.
 */
export interface StagedObject {
  readonly key: string;
  readonly size: number;
  /**
   * Makes the object visible. `mustNotExist`: refused (409) where the server honours conditional writes
   * and the key already holds an object. `metadata` applies where the bytes are not in a multipart upload
   * yet (a multipart upload's metadata was fixed when it started).
   */
  commit(opts: { mustNotExist: boolean; metadata: Record<string, string> }): Promise<CommittedObject>;
  /** Drops the bytes (aborts the multipart upload); nothing once committed. */
  discard(): Promise<void>;
}

export interface BucketStore {
  readonly name: string;
  /**
   * Where the bucket lives, for what the gateway keeps about it (metadata, write order, jobs): the bucket's
   * name on the gateway's own S3, prefixed with the endpoint's name on another one.
   */
  readonly scope: string;
  /** The server it is on ('' for the gateway's own S3): S3 copies between buckets of one server itself. */
  readonly server: string;
  /** What this server can do. */
  readonly profile: S3Profile;
  /** One cheap request that needs the right to list the bucket: how sign-in checks a person's keys. */
  probe(): Promise<void>;
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /** Every object under a prefix, a page at a time (so that no caller holds a whole tree at once). */
  listAll(prefix: string): AsyncGenerator<ObjectSummary[]>;
  /** True when at least one key starts with the prefix. */
  hasAny(prefix: string): Promise<boolean>;
  head(key: string): Promise<ObjectHead | undefined>;
  /** The object's bytes (a range of them); undefined when missing. */
  get(key: string, opts?: { range?: string | undefined }): Promise<ObjectStream | undefined>;
  /** A short-lived URL that lets its holder GET the object straight from S3. */
  /** A short-lived GET URL; S3 answers it with these response headers. */
  presignGet(key: string, ttlSec: number, response?: { contentDisposition?: string }): Promise<string>;
  putEmpty(key: string, opts: { contentType: string; metadata: Record<string, string> }): Promise<{ etag: string }>;
  /**
   * Copies the version `from` describes (refused, 409, if the object is another version by then), from
   * this bucket or from `fromBucket` of the same server (only below the profile's multipart-copy cutoff).
   */
  copy(from: ObjectSummary, toKey: string, fromBucket?: string): Promise<{ etag: string | undefined }>;
  /** Rewrites the metadata of the version `head` describes, in place (409 if it is another version by then). */
  replaceMetadata(head: ObjectHead, metadata: Record<string, string>): Promise<{ etag: string | undefined }>;
  deleteOne(key: string): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
  /**
   * Stages a body of known size, invisible until committed; a body that errors leaves nothing. A body
   * larger than a part goes to a multipart upload, and `onMultipart` is awaited before its first part.
   */
  stage(
    key: string,
    body: Readable,
    object: NewObject,
    transfer: { size: number; partSize: number; queueSize: number; onMultipart?: (uploadId: string) => Promise<void> },
  ): Promise<StagedObject>;
  createMultipart(key: string, object: NewObject): Promise<string>;
  /** Streams one part of known length; a body that fails cancels the request, so S3 never gets a whole part. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Readable | Buffer, length: number): Promise<string>;
  /** A multipart upload whose parts are all uploaded, ready to be completed (or aborted). */
  multipartObject(
    key: string,
    uploadId: string,
    size: number,
    parts: Array<{ partNumber: number; etag: string }>,
    metadata: Record<string, string>,
  ): StagedObject;
  /** Aborts a multipart upload; one that is already gone counts as aborted. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
}

/** A key pair to reach a bucket with: a person's own (AUTH_MODE=s3), or a Cells token and its fixed secret. */
export interface BucketCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Buckets reached with people's own credentials, kept and reused per key pair. */
export interface BucketsByCredentials {
  get(bucket: string, credentials: BucketCredentials): BucketStore;
  /** Lets go of credentials that turned out wrong, so they do not take a place. */
  forget(bucket: string, credentials: BucketCredentials): void;
}

/** Every object under a prefix, a page at a time, from a bucket's `list`: what `listAll` is in every store. */
export async function* pagesUnder(bucket: Pick<BucketStore, 'list'>, prefix: string): AsyncGenerator<ObjectSummary[]> {
  let token: string | undefined;
  do {
    const page = await bucket.list(prefix, { token });
    if (page.objects.length) yield page.objects;
    token = page.nextToken;
  } while (token);
}

/** True when at least one key starts with the prefix: what `hasAny` is in every store. */
export async function anyUnder(bucket: Pick<BucketStore, 'list'>, prefix: string): Promise<boolean> {
  const page = await bucket.list(prefix, { maxKeys: 1 });
  return page.objects.length > 0 || page.prefixes.length > 0;
}
