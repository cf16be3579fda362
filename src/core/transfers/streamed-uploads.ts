import { pipeline, type Readable } from 'node:stream';
import { GatewayError } from '../../errors.js';
import type { Account } from '../auth/accounts.js';
import type { BucketFileSystem, Entry } from '../file-system.js';
import { checkName } from '../ids.js';
import { contentTypeOf } from './content-type.js';
import type { FileDeclaration } from './declarations.js';
import type { MultipartRegistry } from './multipart-registry.js';
import { fileRelOf, objectMetadata, type CommitTarget, type UploadCommits } from './object-commit.js';
import { VerifiedStream } from './verified-stream.js';

export interface StreamedUploadOptions {
  partSize: number;
  queueSize: number;
  /**
   * A streamed upload's multipart upload is leased for this long and renewed while its request lives; a
   * killed process stops renewing it, and a sweep after the lease ends aborts it.
   */
  streamLeaseMs: number;
  /** Streamed uploads one account may run at once in this process (each holds up to its part buffers); beyond, 429. */
  maxPerAccount: number;
  /** Streamed uploads this process runs at once; beyond, 503. */
  maxInAll: number;
}

/**
 * Uploads in one request: the body is checked while it streams (size, sha256) and staged in S3 (or, up to
 * one part, in memory), holding up nobody; then committed under the file's name.
 */
export class StreamedUploads {
  private readonly running = new Map<string, number>();
  private runningInAll = 0;

  constructor(
    private readonly files: BucketFileSystem,
    private readonly commits: UploadCommits,
    private readonly registry: MultipartRegistry,
    private readonly opts: StreamedUploadOptions,
  ) {}

  async uploadNew(account: Account, parentId: string, name: unknown, d: FileDeclaration, body: Readable): Promise<Entry> {
    this.files.assertWritable(account);
    const parentRel = await this.files.folderKeyOf(account, parentId, 'id');
    checkName(name, 'name', (n) => `${account.root}${parentRel}${n}`);
    const rel = `${parentRel}${name as string}`;
    // A large body is refused before it is read when it could not be stored anyway; the check that
    // counts is the one made again at the commit.
    if (d.size > this.opts.partSize) await this.commits.assertNameFree(account, parentRel, rel);
    return this.stageAndCommit(account, rel, d, body, { isNew: true, parentRel });
  }

  async update(account: Account, id: string, d: FileDeclaration, body: Readable): Promise<Entry> {
    this.files.assertWritable(account);
    const rel = fileRelOf(id, 'id');
    if (d.size > this.opts.partSize) await this.commits.assertFileExists(account, rel);
    return this.stageAndCommit(account, rel, d, body, { isNew: false });
  }

  private async stageAndCommit(account: Account, rel: string, d: FileDeclaration, body: Readable, target: CommitTarget) {
    const release = this.admit(account);
    try {
      return await this.stageAndCommitAdmitted(account, rel, d, body, target);
    } finally {
      release();
    }
  }

  /** Counts an upload against its account's and the process's limits, or refuses it before a byte is read. */
  private admit(account: Account): () => void {
    const mine = this.running.get(account.name) ?? 0;
    if (mine >= this.opts.maxPerAccount) {
      throw new GatewayError('rate_limited', `This account already has ${this.opts.maxPerAccount} uploads running; try again when one is done.`, {
        retryAfterSec: 5,
      });
    }
    if (this.runningInAll >= this.opts.maxInAll)
      throw new GatewayError('unavailable', 'Too many uploads are running; try again shortly.', { retryAfterSec: 5 });
    this.running.set(account.name, mine + 1);
    this.runningInAll++;
    return () => {
      const left = (this.running.get(account.name) ?? 1) - 1;
      if (left === 0) this.running.delete(account.name);
      else this.running.set(account.name, left);
      this.runningInAll--;
    };
  }

  private async stageAndCommitAdmitted(account: Account, rel: string, d: FileDeclaration, body: Readable, target: CommitTarget) {
    const full = account.root + rel;
    const verified = new VerifiedStream({ size: d.size, sha256: d.sha256, sizeField: 'size', sha256Field: 'sha256' });
    // The request's failure (client gone) reaches the upload through the verifying stream.
    pipeline(body, verified, () => undefined);
    const tracked = this.registry.leaseFor({ key: full, bucket: account.bucket.scope, principal: account.principal }, this.opts.streamLeaseMs);
    try {
      const staged = await account.bucket.stage(
        full,
        verified,
        { contentType: contentTypeOf(full), metadata: objectMetadata(d) },
        {
          size: d.size,
          partSize: this.opts.partSize,
          queueSize: this.opts.queueSize,
          onMultipart: tracked.onMultipart,
        },
      );
      // The body is whole and checked: its sha256 is known even when the client did not declare it.
      try {
        return await this.commits.commit(account, rel, staged, { ...d, sha256: verified.sha256 }, target);
      } catch (err) {
        await staged.discard().catch(() => undefined);
        throw err;
      }
    } finally {
      tracked.end();
    }
  }
}
