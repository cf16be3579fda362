import type { ObjectHead, ObjectStream } from '../../storage/s3/bucket.js';
import type { Account } from '../auth/accounts.js';
import { GatewayError, invalid } from '../errors.js';
import { decodeId, isFolderKey } from '../ids.js';

export type Download =
  | { kind: 'stream'; object: ObjectStream }
  | { kind: 'not-modified'; etag: string }
  | { kind: 'redirect'; url: string };

export interface DownloadOptions {
  mode: 'stream' | 'redirect';
  urlTtlSec: number;
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

/** Downloads stream from S3 through the gateway, or redirect to a short-lived presigned URL. */
export class DownloadService {
  constructor(private readonly opts: DownloadOptions) {}

  private fileKey(account: Account, id: string): string {
    const rel = decodeId(id);
    if (isFolderKey(rel)) throw invalid('id', 'is a folder, not a file');
    return account.root + rel;
  }

  async open(account: Account, id: string, request: { range?: string; ifNoneMatch?: string }): Promise<Download> {
    const key = this.fileKey(account, id);
    if (this.opts.mode === 'redirect') {
      if (!(await account.bucket.head(key))) throw new GatewayError('not_found', 'No such file.');
      return { kind: 'redirect', url: await account.bucket.presignGet(key, this.opts.urlTtlSec) };
    }
    const got = await account.bucket.get(key, { range: singleRange(request.range), ifNoneMatch: request.ifNoneMatch });
    if (got === undefined) throw new GatewayError('not_found', 'No such file.');
    if (got === 'not-modified') return { kind: 'not-modified', etag: request.ifNoneMatch ?? '' };
    return { kind: 'stream', object: got };
  }

  async head(account: Account, id: string): Promise<ObjectHead> {
    const head = await account.bucket.head(this.fileKey(account, id));
    if (!head) throw new GatewayError('not_found', 'No such file.');
    return head;
  }
}
