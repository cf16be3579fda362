import type { BucketStore, ObjectHead, ObjectStream } from '../../storage/bucket-store.js';
import type { Account } from '../auth/accounts.js';
import { GatewayError, invalid } from '../../errors.js';
import { entryHash, factsFromHead } from '../file-system.js';
import { decodeId, isFolderKey } from '../ids.js';
import type { MetadataCache } from '../metadata-cache.js';
import { sameEtag } from '../../storage/s3/etags.js';
import { attachmentOf } from './content-type.js';

export type Download =
  | { kind: 'stream'; object: ObjectStream; etag: string; disposition: string }
  | { kind: 'not-modified'; etag: string }
  | { kind: 'redirect'; url: string }
  /** No byte of the range is in the file: 416, with the file's size for `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable'; size: number };

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

/** What a Range header asks for (RFC 9110 14.1.1): one int-range or suffix-range, or nothing. */
export type RangeAsk = { kind: 'whole' } | { kind: 'from'; first: number; last: number | undefined } | { kind: 'suffix'; length: number };

/**
 * One range of bytes, or the whole file: several ranges, another unit, a malformed header or an invalid
 * range (last before first) are ignored, which HTTP allows, and the whole file is sent.
 */
export function parseRange(header: string | undefined): RangeAsk {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'whole' };
  if (m[1] === '') return { kind: 'suffix', length: Number(m[2]) };
  const first = Number(m[1]);
  const last = m[2] === '' ? undefined : Number(m[2]);
  if (last !== undefined && last < first) return { kind: 'whole' };
  return { kind: 'from', first, last };
}

/**
 * The bytes a range selects of a file of `size` (RFC 9110 14.1.1): an int-range is satisfiable when it
 * starts inside the file (and ends at the file's end at most), a suffix-range when it is not empty (the
 * whole file when longer). A zero-length file has no byte to name: a suffix-range gets it whole.
 */
export function resolveRange(ask: RangeAsk, size: number): { kind: 'whole' } | { kind: 'bytes'; start: number; end: number } | { kind: 'unsatisfiable' } {
  if (ask.kind === 'whole') return ask;
  if (ask.kind === 'suffix') {
    if (ask.length === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return { kind: 'whole' };
    return { kind: 'bytes', start: Math.max(0, size - ask.length), end: size - 1 };
  }
  if (ask.first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'bytes', start: ask.first, end: Math.min(ask.last ?? size - 1, size - 1) };
}

const opaque = (tag: string) => tag.trim().replace(/^W\//, '');

/** If-None-Match (RFC 9110 13.1.2): `*` or any listed entity tag, compared weakly. */
function noneMatchHit(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => opaque(t) === etag);
}

/**
 * If-Range (RFC 9110 13.1.5): the range applies only to the representation the client already has part
 * of, named by a strong entity tag or by exactly its Last-Modified date. Anything else, a weak tag
 * included, does not match: the client then gets the whole, current file.
 */
function ifRangeHolds(header: string, etag: string, lastModified: Date): boolean {
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
  private async etagOf(bucket: BucketStore, o: Pick<ObjectHead, 'key' | 'etag' | 'size' | 'metadata' | 'lastModified'>): Promise<string> {
    const sha256 = factsFromHead({ ...o, contentType: undefined }).sha256 ?? (await this.cache.getMany(bucket.scope, [o]))[0]?.sha256;
    return `"${entryHash(o.etag, sha256)}"`;
  }

  async open(account: Account, id: string, request: DownloadRequest): Promise<Download> {
    const key = this.fileKey(account, id);
    const { bucket } = account;
    if (request.range !== undefined || this.opts.mode === 'redirect') return this.ranged(bucket, key, request);
    // The common case, one request to S3: the whole file, unless the client has it already.
    const got = await bucket.get(key);
    if (!got) throw new GatewayError('not_found', 'No such file.');
    const etag = await this.etagOf(bucket, { key, etag: got.etag, size: got.size, metadata: got.metadata, lastModified: got.lastModified });
    if (noneMatchHit(request.ifNoneMatch, etag)) {
      got.body.destroy();
      return { kind: 'not-modified', etag };
    }
    return { kind: 'stream', object: got, etag, disposition: attachmentOf(key) };
  }

  /**
   * A download the gateway decides from the file's size and version (redirect mode, or a Range): what
   * the range selects is resolved here, per RFC 9110, not left to each S3 server's reading of edge cases
   * (a suffix longer than the file, an empty file, `bytes=-0`); S3 is then asked for exactly those bytes
   * of exactly that version (a file replaced in between is looked at again).
   */
  private async ranged(bucket: BucketStore, key: string, request: DownloadRequest): Promise<Download> {
    for (let attempt = 1; ; attempt++) {
      const head = await bucket.head(key);
      if (!head) throw new GatewayError('not_found', 'No such file.');
      const etag = await this.etagOf(bucket, head);
      if (noneMatchHit(request.ifNoneMatch, etag)) return { kind: 'not-modified', etag };
      // A range of another version than the one named in If-Range is not applied: the whole new file comes.
      const ask =
        request.ifRange !== undefined && !ifRangeHolds(request.ifRange, etag, head.lastModified) ? ({ kind: 'whole' } as const) : parseRange(request.range);
      const range = resolveRange(ask, head.size);
      if (range.kind === 'unsatisfiable') return { kind: 'unsatisfiable', size: head.size };
      // S3 applies the client's own Range header, which means what it meant here only for one plain range.
      const sameForS3 = request.range === undefined || (range.kind === 'bytes' && ask.kind !== 'whole');
      if (this.opts.mode === 'redirect' && sameForS3) {
        return { kind: 'redirect', url: await bucket.presignGet(key, this.opts.urlTtlSec, { contentDisposition: attachmentOf(key) }) };
      }
      const got = await bucket.get(key, { range: range.kind === 'bytes' ? `bytes=${range.start}-${range.end}` : undefined });
      if (!got) throw new GatewayError('not_found', 'No such file.');
      if (sameEtag(got.etag, head.etag)) return { kind: 'stream', object: got, etag, disposition: attachmentOf(key) };
      got.body.destroy();
      if (attempt === 3) throw new GatewayError('unavailable', 'The file keeps changing while it is read; try again shortly.', { retryAfterSec: 1 });
    }
  }

  async head(account: Account, id: string): Promise<ObjectHead & { httpEtag: string; disposition: string }> {
    const head = await account.bucket.head(this.fileKey(account, id));
    if (!head) throw new GatewayError('not_found', 'No such file.');
    return { ...head, httpEtag: await this.etagOf(account.bucket, head), disposition: attachmentOf(head.key) };
  }
}
