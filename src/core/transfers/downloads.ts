import type { ObjectHead, ObjectStream, S3Bucket } from '../../storage/s3/bucket.js';
import type { Account } from '../auth/accounts.js';
import { GatewayError, invalid } from '../errors.js';
import { entryHash, factsFromHead } from '../file-system.js';
import { decodeId, isFolderKey } from '../ids.js';
import type { MetadataCache } from '../metadata-cache.js';

export type Download =
  | { kind: 'stream'; object: ObjectStream; etag: string }
  | { kind: 'not-modified'; etag: string }
  | { kind: 'redirect'; url: string };

export interface DownloadOptions {
  mode: 'stream' | 'redirect';
  urlTtlSec: number;
}

/** The conditional and range headers of a download, as the client sent them. */
export interface DownloadRequest {
  range?: string | undefined;
  ifRange?: string | undefined;
  ifNoneMatch?: string | undefined;
}

/**
 * One satisfiable-looking byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`), or undefined: several ranges
 * or a malformed header are ignored and the whole file is sent, as HTTP allows.
 */
export function singleRange(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] !== '' && m[2] !== '' && Number(m[2]) < Number(m[1])) return undefined;
  return `bytes=${m[1]}-${m[2]}`;
}

const opaque = (tag: string) => tag.trim().replace(/^W\//, '');

/** If-None-Match (RFC 9110 13.1.2): `*` or any listed entity tag, compared weakly. */
export function noneMatchHit(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => opaque(t) === etag);
}

/**
 * If-Range (RFC 9110 13.1.5): the range applies only to the representation the client already has part
 * of, named by a strong entity tag or by exactly its Last-Modified date. Anything else, a weak tag
 * included, does not match: the client then gets the whole, current file.
 */
export function ifRangeHolds(header: string, etag: string, lastModified: Date): boolean {
  const value = header.trim();
  if (value.startsWith('"')) return value === etag;
  if (value.startsWith('W/')) return false;
  const date = Date.parse(value);
  return !Number.isNaN(date) && Math.floor(date / 1000) === Math.floor(lastModified.getTime() / 1000);
}

/**
 * Downloads stream from S3 through the gateway, or redirect to a short-lived presigned URL. A file's HTTP
 * ETag is its entry's hash, quoted — the sha256 the gateway computed, else S3's ETag — so that one
 * validator names a version everywhere: in listings, in If-None-Match and in If-Range.
 */
export class DownloadService {
  constructor(
    private readonly opts: DownloadOptions,
    private readonly cache: MetadataCache,
  ) {}

  private fileKey(account: Account, id: string): string {
    const rel = decodeId(id);
    if (isFolderKey(rel)) throw invalid('id', 'is a folder, not a file');
    return account.root + rel;
  }

  /** The quoted entity tag of a version: what listings report as its hash. */
  private async etagOf(bucket: S3Bucket, o: Pick<ObjectHead, 'key' | 'etag' | 'size' | 'metadata' | 'lastModified'>): Promise<string> {
    const sha256 = factsFromHead({ ...o, contentType: undefined }).sha256 ?? (await this.cache.getMany(bucket.name, [o]))[0]?.sha256;
    return `"${entryHash(o.etag, sha256)}"`;
  }

  async open(account: Account, id: string, request: DownloadRequest): Promise<Download> {
    const key = this.fileKey(account, id);
    const { bucket } = account;
    const range = singleRange(request.range);
    if (this.opts.mode === 'redirect') {
      const head = await bucket.head(key);
      if (!head) throw new GatewayError('not_found', 'No such file.');
      const etag = await this.etagOf(bucket, head);
      if (noneMatchHit(request.ifNoneMatch, etag)) return { kind: 'not-modified', etag };
      // S3 would apply the range to whatever the file is by then: a range of another version is sent
      // whole from here instead, as If-Range asks.
      if (!(range && request.ifRange && !ifRangeHolds(request.ifRange, etag, head.lastModified))) {
        return { kind: 'redirect', url: await bucket.presignGet(key, this.opts.urlTtlSec) };
      }
      return this.whole(bucket, key);
    }
    let got: ObjectStream | undefined;
    try {
      got = await bucket.get(key, { range });
    } catch (err) {
      // A range outside the file still yields the whole file when it was asked of another version.
      if (!(err instanceof GatewayError && err.kind === 'unsatisfiable' && request.ifRange)) throw err;
      const head = await bucket.head(key);
      if (!head || ifRangeHolds(request.ifRange, await this.etagOf(bucket, head), head.lastModified)) throw err;
      return this.whole(bucket, key);
    }
    if (!got) throw new GatewayError('not_found', 'No such file.');
    const etag = await this.etagOf(bucket, { key, etag: got.etag, size: got.size, metadata: got.metadata, lastModified: got.lastModified });
    if (noneMatchHit(request.ifNoneMatch, etag)) {
      got.body.destroy();
      return { kind: 'not-modified', etag };
    }
    if (range && request.ifRange && !ifRangeHolds(request.ifRange, etag, got.lastModified)) {
      got.body.destroy();
      return this.whole(bucket, key);
    }
    return { kind: 'stream', object: got, etag };
  }

  private async whole(bucket: S3Bucket, key: string): Promise<Download> {
    const got = await bucket.get(key);
    if (!got) throw new GatewayError('not_found', 'No such file.');
    return { kind: 'stream', object: got, etag: await this.etagOf(bucket, { key, etag: got.etag, size: got.size, metadata: got.metadata, lastModified: got.lastModified }) };
  }

  async head(account: Account, id: string): Promise<ObjectHead & { httpEtag: string }> {
    const head = await account.bucket.head(this.fileKey(account, id));
    if (!head) throw new GatewayError('not_found', 'No such file.');
    return { ...head, httpEtag: await this.etagOf(account.bucket, head) };
  }
}
