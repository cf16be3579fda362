import type { Logger } from '../../log.js';
import { fieldError, GatewayError, invalid, type Field } from '../../errors.js';
import type { CommittedObject, ObjectHead, StagedObject } from '../../storage/bucket-store.js';
import { sameEtag } from '../../storage/s3/etags.js';
import type { Account } from '../auth/accounts.js';
import { META_MODIFIED, META_SHA256, type BucketFileSystem, type Entry } from '../file-system.js';
import { decodeId, isFolderKey } from '../ids.js';
import type { MetadataCache } from '../metadata-cache.js';
import type { Lease } from '../namespace-locks.js';
import { contentTypeOf } from './content-type.js';
import type { FileDeclaration } from './declarations.js';

/** The object metadata the gateway writes with a file: the client's modified time, and the sha256 when known. */
export function objectMetadata(d: { modified: number; sha256: string | undefined }): Record<string, string> {
  return { [META_MODIFIED]: String(d.modified), ...(d.sha256 ? { [META_SHA256]: d.sha256 } : {}) };
}

/** What a commit must find: a free name in an existing folder (new file), or the file (update). */
export type CommitTarget = { isNew: true; parentRel: string } | { isNew: false };

/** The relative key of an id that must name a file (400 for a folder). */
export function fileRelOf(id: string, field: Field): string {
  const rel = decodeId(id, field);
  if (rel === '' || isFolderKey(rel)) throw invalid(field, 'is a folder, not a file');
  return rel;
}

/**
 * The step every upload ends with, however its bytes came: holding the file's name, check again that
 * the write may happen (the name still free, the file still there), make the staged bytes visible in one
 * S3 call, and check what S3 stored. Nothing becomes visible until every check has passed.
 */
export class UploadCommits {
  constructor(
    private readonly files: BucketFileSystem,
    private readonly cache: MetadataCache,
    private readonly logger: Logger,
  ) {}

  /** The parent folder exists and nothing has the name (else 404, 409). */
  async assertNameFree(account: Account, parentRel: string, rel: string): Promise<void> {
    await this.files.assertFolder(account, parentRel);
    if (await this.files.nameTaken(account.bucket, account.root + rel)) {
      throw fieldError('conflict', { field: 'name', problem: 'a file or folder with this name already exists' });
    }
  }

  async assertFileExists(account: Account, rel: string): Promise<void> {
    if (!(await account.bucket.head(account.root + rel))) throw new GatewayError('not_found', 'No such file.');
  }

  /**
   * Holding the file's name: checks again that the write may happen, commits the staged bytes, and
   * checks what S3 stored. A segmented upload also re-reads its session first (`recheck`) and forgets it
   * once committed (`committed`), both under the same lock.
   */
  commit(
    account: Account,
    rel: string,
    staged: StagedObject,
    d: FileDeclaration,
    target: CommitTarget,
    hooks: { recheck?: () => Promise<void>; committed?: () => Promise<void> } = {},
  ): Promise<Entry> {
    return this.files.locked(account, [rel], async (lease) => {
      await hooks.recheck?.();
      if (target.isNew) await this.assertNameFree(account, target.parentRel, rel);
      else await this.assertFileExists(account, rel);
      lease.assertHeld();
      const written = await staged.commit({ mustNotExist: target.isNew, metadata: objectMetadata(d) });
      await hooks.committed?.();
      return this.finishObject(account, account.root + rel, staged.size, d, written, lease);
    });
  }

  /**
   * After the bytes are stored, still holding the name: trust nothing unchecked (the stored length must be
   * what we counted), then record the sha256 in the object's metadata if it was not known when the bytes
   * went into S3 — only on the version this request wrote: if the object is another one by then, no hash
   * is recorded for it rather than a wrong one.
   */
  private async finishObject(account: Account, full: string, counted: number, d: FileDeclaration, committed: CommittedObject, lease: Lease): Promise<Entry> {
    const { bucket } = account;
    const profile = bucket.profile;
    let head: ObjectHead | undefined;
    if (profile.readAfterWrite) {
      head = await bucket.head(full);
    } else {
      // The server indexes after answering (Cells): a HEAD now may miss the object, so answer from what was written.
      head = { key: full, size: counted, etag: committed.etag ?? '', lastModified: new Date(), contentType: contentTypeOf(full), metadata: committed.metadata };
    }
    const facts = { modified: d.modified, sha256: d.sha256 };
    // Without an ETag from the commit (nothing to compare), the name held since then vouches for it.
    if (!head || (committed.etag !== undefined && !sameEtag(head.etag, committed.etag))) {
      // A writer that bypasses the gateway replaced or deleted it at once: this upload happened, and was superseded.
      this.logger.warn('the object changed right after the upload committed; no hash recorded for it', { key: full });
      return this.files.fileEntry(account, { key: full, size: counted, etag: committed.etag ?? '', lastModified: new Date() }, facts);
    }
    if (head.size !== counted || head.size !== d.size) {
      this.logger.error('stored object length differs from the bytes received', { size: head.size, counted, declared: d.size });
      // S3 holds something other than what was sent: take it away rather than serve it under the name.
      lease.assertHeld();
      await bucket.deleteOne(full).catch(() => undefined);
      throw new GatewayError('bad_gateway', 'S3 stored a different number of bytes than the gateway sent; nothing was kept. Try the upload again.');
    }
    // Without copy-to-self the sha256 stays in the metadata cache only: the entry then shows the ETag once that expires.
    if (d.sha256 && committed.metadata[META_SHA256] !== d.sha256 && profile.copyToSelf) {
      lease.assertHeld();
      try {
        // Known only now: keep it with the object (a copy onto itself inside S3, of exactly this version).
        const copied = await bucket.replaceMetadata(head, { ...committed.metadata, [META_SHA256]: d.sha256 });
        const after = copied.etag ? { ...head, etag: copied.etag } : await bucket.head(full);
        if (after) head = after;
      } catch (err) {
        if (!(err instanceof GatewayError && err.kind === 'conflict')) throw err;
        this.logger.warn('the object changed before its hash was recorded; no hash recorded for it', { key: full });
        return this.files.fileEntry(account, head, facts);
      }
    }
    await this.cache.put(bucket.scope, head, facts);
    return this.files.fileEntry(account, head, facts);
  }
}
