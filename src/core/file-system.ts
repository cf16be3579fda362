import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { BucketStore, ObjectHead, ObjectSummary } from '../storage/bucket-store.js';
import { unquoted } from '../storage/s3/etags.js';
import type { SessionStore } from '../storage/session-store/types.js';
import type { Account } from './auth/accounts.js';
import { fieldError, GatewayError, invalid, type Field } from '../errors.js';
import { checkName, decodeId, encodeId, isFolderKey, MAX_KEY_BYTES, nameOf, parentOf, ROOT_ID } from './ids.js';
import type { MetadataCache, ObjectFacts } from './metadata-cache.js';
import type { Lease, NamespaceLocks } from './namespace-locks.js';
import type { MultipartRegistry } from './transfers/multipart-registry.js';
import { LEGACY_FOLDER_SUFFIX, listingChildren } from './listing.js';
import { openPageToken, sealPageToken } from './page-tokens.js';
import { storeKeys } from './store-keys.js';
import { readModified } from './transfers/declarations.js';
import type { FolderJob, FolderJobs } from './folder-jobs/jobs.js';
import { continueFrom, JobViewBucket } from './folder-jobs/view.js';

export interface Entry {
  id: string;
  parentId: string;
  type: 'file' | 'folder';
  name: string;
  /** Epoch milliseconds. */
  modified: number;
  size?: number;
  hash?: string;
}

/** Object metadata names the gateway writes (S3 sends them as x-amz-meta-*). */
export const META_MODIFIED = 'gw-modified';
export const META_SHA256 = 'gw-sha256';
const FOLDER_CONTENT_TYPE = 'application/x-directory';
/**
 * The modified time of a folder that has no marker (it exists only because keys lie under it): stable
 * and plainly artificial, 2000-01-01T00:00:00Z.
 */
export const IMPLICIT_FOLDER_MODIFIED = Date.UTC(2000, 0, 1);

export interface FileSystemOptions {
  pageSize: number;
  headConcurrency: number;
  copyConcurrency: number;
  /** Copies between two S3 servers stream through the gateway in parts of this size, this many parts at once. */
  streamPartSize: number;
  streamQueueSize: number;
  /** How long a streamed copy's multipart upload is leased (see MultipartRegistry.leaseFor). */
  streamLeaseMs: number;
  /** Streamed copies this process runs at once, whatever the number of moves: they bound its memory. */
  streamedCopies: number;
}

/** The bucket itself, under the view a reader may have been given. */
const rawBucket = (b: BucketStore) => (b instanceof JobViewBucket ? b.raw : b);

/** The same bucket and prefix: a move between them is a move within one place. */
const samePlace = (a: Account, b: Account) => a.bucket.scope === b.bucket.scope && a.root === b.root;

const notFound = () => new GatewayError('not_found', 'No such file or folder.');
const notAFolder = (field: Field) => invalid(field, 'is a file, not a folder');
const targetTaken = (field: Field) => fieldError('conflict', { field, problem: 'the target name already exists' });

/** A client's modified time as stored in object metadata; undefined when absent or not a sane time. */
function parseModified(raw: string | undefined): number | undefined {
  if (!raw || !/^\d{1,15}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n > 0 ? n : undefined;
}

export function factsFromHead(head: ObjectHead): ObjectFacts {
  const sha = head.metadata[META_SHA256];
  return {
    modified: parseModified(head.metadata[META_MODIFIED]) ?? head.lastModified.getTime(),
    sha256: sha && /^[0-9a-f]{64}$/.test(sha) ? sha : undefined,
  };
}

/** A file's hash as entries report it: the sha256 the gateway computed, else S3's ETag (a multipart ETag is no content hash). */
export const entryHash = (etag: string, sha256: string | undefined) => sha256 ?? unquoted(etag);

/**
 * The bucket seen as odrive's file system: ids, listings, entries, folders, rename, move and delete,
 * confined to each account's root prefix.
 */
export class BucketFileSystem {
  private readonly heads: ReturnType<typeof pLimit>;
  private readonly streamedCopies: ReturnType<typeof pLimit>;

  constructor(
    private readonly cache: MetadataCache,
    private readonly store: SessionStore,
    private readonly locks: NamespaceLocks,
    private readonly registry: MultipartRegistry,
    private readonly opts: FileSystemOptions,
    /** Folder renames, moves and deletes within a bucket. */
    readonly jobs: FolderJobs,
  ) {
    jobs.useFolderKeeper((bucket, full, lease) => this.keepFolderKey(bucket, full, lease));
    // Shared across requests: a burst of cold listings cannot flood S3 with HEADs.
    this.heads = pLimit(opts.headConcurrency);
    // Shared too: each copy through the gateway holds up to (queue + 1) parts.
    this.streamedCopies = pLimit(opts.streamedCopies);
  }

  // ---------------------------------------------------------------- reading

  async list(account: Account, folderId: string, page: string | undefined): Promise<{ entries: Entry[]; nextPage: string | undefined }> {
    const rel = await this.folderKeyOf(account, folderId, 'id');
    const prefix = account.root + rel;
    let token = page === undefined ? undefined : openPageToken(prefix, page);
    let first = page === undefined;
    for (;;) {
      const listed = await account.bucket
        .list(prefix, { delimiter: '/', ...continueFrom(prefix, token), maxKeys: this.opts.pageSize })
        .catch((err: unknown) => {
          if (token !== undefined && err instanceof GatewayError && err.kind === 'bad_gateway') {
            throw invalid('page', 'is not a page token of this listing');
          }
          throw err;
        });
      if (first && rel !== '' && listed.objects.length === 0 && listed.prefixes.length === 0) {
        // Nothing under the prefix: the folder exists only as a Hadoop-style marker, if at all.
        if (!(await account.bucket.head(`${prefix.slice(0, -1)}${LEGACY_FOLDER_SUFFIX}`))) throw notFound();
      }
      first = false;
      const entries = await this.entriesOf(account, prefix, listed.objects, listed.prefixes);
      // A page can hold nothing but the folder's own marker; move on rather than answer an empty page.
      if (entries.length > 0 || !listed.nextToken) {
        return { entries, nextPage: listed.nextToken === undefined ? undefined : sealPageToken(prefix, listed.nextToken) };
      }
      token = listed.nextToken;
    }
  }

  async entry(account: Account, id: string): Promise<Entry> {
    const rel = decodeId(id);
    if (rel === '') return this.rootEntry(account);
    const full = account.root + rel;
    if (isFolderKey(rel)) {
      if (!(await this.folderExists(account.bucket, full))) throw notFound();
      const [modified] = await this.folderTimes(account.bucket, [full]);
      return this.folderEntry(rel, modified!);
    }
    const head = await account.bucket.head(full);
    if (!head) throw notFound();
    const facts = factsFromHead(head);
    await this.cache.put(account.bucket.scope, head, facts);
    return this.fileEntry(account, head, facts);
  }

  // ---------------------------------------------------------------- writing
  //
  // Every write holds its names (see namespace-locks.ts) from its checks to its last S3 call, so that what
  // it checked ("the name is free", "the source is this version") is still true when it writes.

  /** Runs `work` holding the account's relative keys `rels` (and their ancestors, shared). */
  locked<T>(account: Account, rels: string[], work: (lease: Lease) => Promise<T>): Promise<T> {
    return this.holding(
      account.bucket,
      rels.map((r) => account.root + r),
      work,
    );
  }

  /**
   * Runs `work` holding the full keys `names` of `bucket`, after any folder job that touches them: a job
   * holds its folders' names while it runs, and one whose owner stopped is taken up and waited for here.
   */
  private async holding<T>(bucket: BucketStore, names: string[], work: (lease: Lease) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.locks.waitMs;
    for (;;) {
      const outcome = await this.locks.run(
        bucket.scope,
        names,
        async (lease): Promise<{ done: true; value: T } | { done: false; job: FolderJob }> => {
          const job = await this.jobs.jobTouching(bucket.scope, names);
          if (job) return { done: false, job };
          // The view the request came with may show jobs that have ended while it waited.
          await this.jobs.refreshView(bucket);
          return { done: true, value: await work(lease) };
        },
        Math.max(0, deadline - Date.now()),
      );
      if (outcome.done) return outcome.value;
      await this.jobs.waitFor(outcome.job, rawBucket(bucket), deadline);
    }
  }

  /** The account as it reads with the folder jobs under way in its bucket done (see folder-jobs/view.ts). */
  async viewOf(account: Account): Promise<Account> {
    const bucket = await this.jobs.view(account.bucket);
    return bucket === account.bucket ? account : { ...account, bucket };
  }

  async createFolder(account: Account, parentId: string, name: unknown, modified: unknown): Promise<Entry> {
    this.assertWritable(account);
    const time = readModified(modified) ?? Date.now();
    const parentRel = await this.folderKeyOf(account, parentId, 'id');
    checkName(name, 'name', (n) => `${account.root}${parentRel}${n}/`);
    const rel = `${parentRel}${name as string}/`;
    const full = account.root + rel;
    return this.locked(account, [rel], async (lease) => {
      await this.assertFolder(account, parentRel);
      const taken = await this.nameTaken(account.bucket, full.slice(0, -1));
      if (taken === 'file') throw fieldError('conflict', { field: 'name', problem: 'a file with this name already exists here' });
      if (taken === 'folder') return this.entry(account, encodeId(rel));
      lease.assertHeld();
      await account.bucket.putEmpty(full, { contentType: FOLDER_CONTENT_TYPE, metadata: { [META_MODIFIED]: String(time) } });
      await this.cache.putFolder(account.bucket.scope, full, time);
      return this.folderEntry(rel, time);
    });
  }

  async rename(account: Account, id: string, newName: unknown): Promise<Entry> {
    const field = 'newName';
    this.assertWritable(account);
    const rel = this.movableKeyOf(id);
    const folder = isFolderKey(rel);
    const parent = parentOf(rel);
    checkName(newName, field, (n) => `${account.root}${parent}${n}${folder ? '/' : ''}`);
    return this.relocateBetween(account, rel, account, `${parent}${newName as string}${folder ? '/' : ''}`, field);
  }

  async move(account: Account, id: string, newParentId: unknown): Promise<Entry> {
    const field = 'newParentId';
    this.assertWritable(account);
    if (newParentId === undefined || newParentId === null) throw invalid(field, 'is required');
    if (typeof newParentId !== 'string') throw invalid(field, 'must be a string');
    const rel = this.movableKeyOf(id);
    const target = await this.folderKeyOf(account, newParentId, field);
    if (isFolderKey(rel) && target.startsWith(rel)) throw invalid(field, 'is the folder itself or inside it');
    const targetRel = `${target}${nameOf(rel)}${isFolderKey(rel) ? '/' : ''}`;
    const bytes = Buffer.byteLength(account.root + targetRel, 'utf8');
    if (bytes > MAX_KEY_BYTES) throw invalid(field, `would make the S3 key ${bytes} bytes long; S3 allows ${MAX_KEY_BYTES}`);
    return this.relocateBetween(account, rel, account, targetRel, field, target);
  }

  async remove(account: Account, id: string): Promise<void> {
    this.assertWritable(account);
    const rel = this.movableKeyOf(id);
    const full = account.root + rel;
    const bucket = rawBucket(account.bucket);
    if (isFolderKey(rel)) {
      await this.jobs.perform({
        op: 'delete',
        bucket,
        principal: account.principal,
        from: full,
        keep: parentOf(rel) === '' ? undefined : account.root + parentOf(rel),
        check: async () => {
          const legacy = `${full.slice(0, -1)}${LEGACY_FOLDER_SUFFIX}`;
          const [any, legacyMarker] = await Promise.all([bucket.hasAny(full), bucket.head(legacy)]);
          if (!any && !legacyMarker) throw notFound();
          return 0;
        },
      });
      return;
    }
    await this.locked(account, [rel], async (lease) => {
      if (!(await bucket.head(full))) throw notFound();
      lease.assertHeld();
      await bucket.deleteOne(full);
      await this.keepFolder(account, parentOf(rel), lease);
    });
  }

  // ---------------------------------------------------------------- rename and move

  /**
   * Moves `rel` of `src` to `targetRel` of `dst`: within one account's place (rename, move) or between two
   * (from a mount to another, or to the home). `newParent`: the target folder of a move, which must (still)
   * exist once the names are held.
   */
  async relocateBetween(src: Account, rel: string, dst: Account, targetRel: string, field: Field, newParent?: string): Promise<Entry> {
    this.assertWritable(src);
    this.assertWritable(dst);
    const same = samePlace(src, dst);
    // Nothing to do: the entry as every reader sees it (a folder job under way shows as done).
    if (same && targetRel === rel) return this.entry(await this.viewOf(src), encodeId(rel));
    if (isFolderKey(rel) && src.bucket.scope === dst.bucket.scope) return this.moveFolder(src, rel, dst, targetRel, field, newParent);
    return this.lockedBetween(src, [rel], dst, [targetRel], async (lease) => {
      if (newParent !== undefined) await this.assertFolder(dst, newParent);
      return isFolderKey(rel) ? this.relocateFolder(src, rel, dst, targetRel, field, lease) : this.relocateFile(src, rel, dst, targetRel, field, lease);
    });
  }

  /** A folder move within one bucket: a job (folder-jobs/jobs.ts). */
  private async moveFolder(src: Account, rel: string, dst: Account, targetRel: string, field: Field, newParent?: string): Promise<Entry> {
    const from = src.root + rel;
    const to = dst.root + targetRel;
    const bucket = rawBucket(src.bucket);
    const { modified } = await this.jobs.perform({
      op: 'move',
      bucket,
      principal: src.principal,
      from,
      to,
      keep: parentOf(rel) === '' ? undefined : src.root + parentOf(rel),
      check: async () => {
        if (newParent !== undefined && newParent !== '' && !(await this.folderExists(bucket, dst.root + newParent))) throw notFound();
        if (!(await this.folderExists(bucket, from))) throw notFound();
        if (await this.nameTaken(bucket, to.slice(0, -1))) throw targetTaken(field);
        const [time] = await this.folderTimes(bucket, [from]);
        return time!;
      },
    });
    return this.folderEntry(targetRel, modified);
  }

  /** Holds names in two places at once, always in the same order, so that two opposite moves cannot wait for each other. */
  private lockedBetween<T>(src: Account, srcRels: string[], dst: Account, dstRels: string[], work: (lease: Lease) => Promise<T>): Promise<T> {
    if (src.bucket.scope === dst.bucket.scope) {
      return this.holding(src.bucket, [...srcRels.map((r) => src.root + r), ...dstRels.map((r) => dst.root + r)], work);
    }
    const [first, second] =
      src.bucket.scope < dst.bucket.scope
        ? [
            { a: src, r: srcRels },
            { a: dst, r: dstRels },
          ]
        : [
            { a: dst, r: dstRels },
            { a: src, r: srcRels },
          ];
    return this.locked(first.a, first.r, (outer) =>
      this.locked(second.a, second.r, (inner) =>
        work({
          token: inner.token,
          assertHeld: () => {
            outer.assertHeld();
            inner.assertHeld();
          },
        }),
      ),
    );
  }

  /**
   * Copies one object version to a key of another (or the same) bucket: by S3 itself on one server, else
   * streamed through the gateway (a part at a time), keeping its metadata. A source that changed since it
   * was listed is a conflict, as with a copy S3 makes.
   */
  private async copyObject(by: Account, from: BucketStore, object: ObjectSummary, to: BucketStore, toKey: string): Promise<{ etag: string | undefined }> {
    if (from.scope === to.scope) return to.copy(object, toKey);
    if (from.server === to.server && object.size <= to.profile.multipartCopyCutoff) return to.copy(object, toKey, from.name);
    return this.streamedCopies(() => this.streamCopy(by, from, object, to, toKey));
  }

  private async streamCopy(by: Account, from: BucketStore, object: ObjectSummary, to: BucketStore, toKey: string): Promise<{ etag: string | undefined }> {
    const source = await from.get(object.key);
    if (!source) throw notFound();
    const tracked = this.registry.leaseFor({ key: toKey, bucket: to.scope, principal: by.principal }, this.opts.streamLeaseMs);
    try {
      if (unquoted(source.etag) !== unquoted(object.etag)) throw new GatewayError('conflict', 'A file changed while it was being copied; try again.');
      const staged = await to.stage(
        toKey,
        source.body,
        { contentType: source.contentType ?? 'application/octet-stream', metadata: source.metadata },
        { size: object.size, partSize: this.opts.streamPartSize, queueSize: this.opts.streamQueueSize, onMultipart: tracked.onMultipart },
      );
      const written = await staged.commit({ mustNotExist: false, metadata: source.metadata });
      return { etag: written.etag };
    } finally {
      // Read to its end or given up: either way the source's connection is let go.
      source.body.destroy();
      tracked.end();
    }
  }

  /** Moves the file's newest version, read once its names are held: a replace that came first moves with it. */
  private async relocateFile(src: Account, rel: string, dst: Account, targetRel: string, field: Field, lease: Lease): Promise<Entry> {
    const from = src.root + rel;
    const to = dst.root + targetRel;
    const [source, taken] = await Promise.all([src.bucket.head(from), this.nameTaken(dst.bucket, to)]);
    if (!source) throw notFound();
    if (taken) throw targetTaken(field);
    const facts = factsFromHead(source);
    lease.assertHeld();
    // Guarded by the version read above: the copy is refused if another writer changed it since.
    const copied = await this.copyObject(src, src.bucket, source, dst.bucket, to);
    if (copied.etag) await this.cache.put(dst.bucket.scope, { key: to, etag: copied.etag, size: source.size }, facts);
    lease.assertHeld();
    await src.bucket.deleteOne(from);
    await this.keepFolder(src, parentOf(rel), lease);
    return this.fileEntry(dst, { ...source, key: to, etag: copied.etag ?? source.etag }, facts);
  }

  /**
   * Copies every descendant, then deletes the sources — only once every copy succeeded, so a failure
   * half-way loses nothing. A journal entry in the session store lets the same request, repeated after a
   * failure, finish the job instead of answering 409 for the half-made target. The entry names the source
   * exactly as it was (every key, version and time): it stands in for the conflict check only while the
   * source is still that one, so a source made anew since, or a job that finished but could not clear its
   * entry, is checked afresh like any request. The whole subtree is held throughout, so no write inside it
   * can slip between the listing and the deletes.
   */
  private async relocateFolder(src: Account, rel: string, dst: Account, targetRel: string, field: Field, lease: Lease): Promise<Entry> {
    const from = src.root + rel;
    const to = dst.root + targetRel;
    const where = src.bucket.scope === dst.bucket.scope ? `${src.bucket.scope}\0${from}\0${to}` : `${src.bucket.scope}\0${from}\0${dst.bucket.scope}\0${to}`;
    const jobKey = storeKeys.folderJob(createHash('sha256').update(where).digest('base64url'));
    const [job, sourceExists] = await Promise.all([this.store.get(jobKey), this.folderExists(src.bucket, from)]);
    // A repeat of a finished move is checked like any request: its source is gone.
    if (!sourceExists) throw notFound();
    const source = await this.subtreeVersion(src.bucket, from);
    if (job !== source) {
      if (await this.nameTaken(dst.bucket, to.slice(0, -1))) throw targetTaken(field);
    }
    await this.store.set(jobKey, source, JOB_TTL_MS);

    const [folderModified] = await this.folderTimes(src.bucket, [from]);
    const copy = pLimit(this.opts.copyConcurrency);
    const copiedSources: string[] = [];
    let failure: { error: unknown } | undefined; // boxed: whatever was thrown, even undefined, counts
    for await (const page of src.bucket.listAll(from)) {
      const known = await this.cache.getMany(src.bucket.scope, page);
      lease.assertHeld();
      // After a failure no further copy starts, and the answer waits for those under way: nothing of
      // this operation may write once it has answered and let go of its names.
      await Promise.allSettled(
        page.map((object, i) =>
          copy(async () => {
            if (failure) return;
            try {
              const dest = to + object.key.slice(from.length);
              const copied = await this.copyObject(src, src.bucket, object, dst.bucket, dest);
              const facts = known[i];
              if (facts && copied.etag) await this.cache.put(dst.bucket.scope, { key: dest, etag: copied.etag, size: object.size }, facts);
              copiedSources.push(object.key);
            } catch (err) {
              failure ??= { error: err };
            }
          }),
        ),
      );
      if (failure) throw failure.error;
    }
    const legacy = `${from.slice(0, -1)}${LEGACY_FOLDER_SUFFIX}`;
    lease.assertHeld();
    // Across places the target may have no key yet (an empty folder): give it its marker before the source goes.
    if (!samePlace(src, dst) && !(await dst.bucket.hasAny(to))) {
      await dst.bucket.putEmpty(to, { contentType: FOLDER_CONTENT_TYPE, metadata: { [META_MODIFIED]: String(folderModified) } });
    }
    await src.bucket.deleteMany(copiedSources);
    if (await src.bucket.head(legacy)) await src.bucket.deleteOne(legacy);
    await Promise.all([this.cache.forgetFolder(src.bucket.scope, from), this.cache.putFolder(dst.bucket.scope, to, folderModified!)]);
    await this.keepFolder(src, parentOf(rel), lease);
    await this.store.delete(jobKey);
    return this.folderEntry(targetRel, folderModified!);
  }

  /** Names one state of a subtree: every key with its version, size and time (a file made anew has a new time). */
  private async subtreeVersion(bucket: BucketStore, prefix: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const page of bucket.listAll(prefix)) {
      for (const o of page) hash.update(`${o.key}\0${o.etag}\0${o.size}\0${o.lastModified.getTime()}\n`);
    }
    return hash.digest('base64url');
  }

  /**
   * A folder whose last child left stays a folder: write its marker, keeping the time it showed. Called
   * holding a child's name, so the folder itself (an ancestor, held shared) cannot go meanwhile.
   */
  private async keepFolder(account: Account, rel: string, lease: Lease): Promise<void> {
    if (rel !== '') await this.keepFolderKey(account.bucket, account.root + rel, lease);
  }

  /** The same by full key; the top of the bucket ('') needs no marker. */
  private async keepFolderKey(bucket: BucketStore, full: string, lease: Lease): Promise<void> {
    if (full === '') return;
    if (await bucket.hasAny(full)) return;
    const [modified] = await this.folderTimes(bucket, [full]);
    lease.assertHeld();
    await bucket.putEmpty(full, { contentType: FOLDER_CONTENT_TYPE, metadata: { [META_MODIFIED]: String(modified) } });
  }

  // ---------------------------------------------------------------- helpers

  assertWritable(account: Account): void {
    if (account.readOnly) throw new GatewayError('forbidden', account.readOnlyReason ?? 'This account is read-only.');
  }

  /** An id that may be renamed, moved or deleted: anything but the root. */
  private movableKeyOf(id: string): string {
    const rel = decodeId(id);
    if (rel === '') throw new GatewayError('forbidden', 'The root folder cannot be renamed, moved or deleted.');
    return rel;
  }

  /**
   * The relative key of an id that must name a folder: 400 for a file, 404 when missing. Listings learn
   * whether the folder exists from the listing itself; other callers ask for the check (writers once
   * they hold their names: `assertFolder`).
   */
  async folderKeyOf(account: Account, id: string, field: Field, mustExist = false): Promise<string> {
    const rel = decodeId(id, field);
    if (rel === '') return rel;
    const full = account.root + rel;
    if (!isFolderKey(rel)) {
      if (await account.bucket.head(full)) throw notAFolder(field);
      throw notFound();
    }
    if (mustExist) await this.assertFolder(account, rel);
    return rel;
  }

  /** 404 unless the folder (relative key, '' for the root) exists. */
  async assertFolder(account: Account, rel: string): Promise<void> {
    if (rel !== '' && !(await this.folderExists(account.bucket, account.root + rel))) throw notFound();
  }

  /** True when a file or a folder already has this name (full key of the file form). */
  async nameTaken(bucket: BucketStore, fullFileKey: string): Promise<'file' | 'folder' | undefined> {
    const [file, folder] = await Promise.all([bucket.head(fullFileKey), this.folderExists(bucket, `${fullFileKey}/`)]);
    return file ? 'file' : folder ? 'folder' : undefined;
  }

  private async folderExists(bucket: BucketStore, full: string): Promise<boolean> {
    if (await bucket.hasAny(full)) return true;
    return (await bucket.head(`${full.slice(0, -1)}${LEGACY_FOLDER_SUFFIX}`)) !== undefined;
  }

  private rootEntry(account: Account): Entry {
    const name = account.root === '' ? account.bucket.name : nameOf(account.root);
    return { id: ROOT_ID, parentId: ROOT_ID, type: 'folder', name, modified: IMPLICIT_FOLDER_MODIFIED };
  }

  private folderEntry(rel: string, modified: number, parentId = encodeId(parentOf(rel))): Entry {
    return { id: encodeId(rel), parentId, type: 'folder', name: nameOf(rel), modified };
  }

  fileEntry(account: Account, object: ObjectSummary, facts: ObjectFacts, parentId?: string): Entry {
    const rel = object.key.slice(account.root.length);
    return {
      id: encodeId(rel),
      parentId: parentId ?? encodeId(parentOf(rel)),
      type: 'file',
      name: nameOf(rel),
      modified: facts.modified,
      size: object.size,
      hash: entryHash(object.etag, facts.sha256),
    };
  }

  /** The entries of one listing page: files and folders in S3's order, markers folded into folders. */
  private async entriesOf(account: Account, prefix: string, objects: ObjectSummary[], prefixes: string[]): Promise<Entry[]> {
    const { folders, files } = listingChildren(account.root, prefix, objects, prefixes);
    const [facts, times] = await Promise.all([this.factsFor(account.bucket, files), this.folderTimes(account.bucket, [...folders.values()])]);
    // Every child has the listed folder as its parent: its id is made once per page, not once per entry.
    const parentId = encodeId(prefix.slice(account.root.length));
    const entries: Entry[] = [...folders.keys()].map((rel, i) => this.folderEntry(rel, times[i]!, parentId));
    files.forEach((f, i) => entries.push(this.fileEntry(account, f, facts[i]!, parentId)));
    return entries;
  }

  /** Facts for listed objects: from the cache, else one HEAD each (bounded), remembered for next time. */
  private async factsFor(bucket: BucketStore, objects: ObjectSummary[]): Promise<ObjectFacts[]> {
    const cached = await this.cache.getMany(bucket.scope, objects);
    // A warm listing is all hits: answered without a promise per entry.
    if (cached.every((hit) => hit !== undefined)) return cached;
    return Promise.all(
      objects.map(async (o, i) => {
        const hit = cached[i];
        if (hit) return hit;
        const head = await this.heads(() => bucket.head(o.key));
        // Gone between listing and HEAD: report what the listing said.
        const facts = head ? factsFromHead(head) : { modified: o.lastModified.getTime(), sha256: undefined };
        if (head) await this.cache.put(bucket.scope, head, facts);
        return facts;
      }),
    );
  }

  /** Folder modified times: the marker's stored time, else the stable value for marker-less folders. */
  private async folderTimes(bucket: BucketStore, fullKeys: string[]): Promise<number[]> {
    const cached = await this.cache.getFolders(bucket.scope, fullKeys);
    if (cached.every((hit) => hit !== undefined)) return cached;
    return Promise.all(
      fullKeys.map(async (full, i) => {
        const hit = cached[i];
        if (hit !== undefined) return hit;
        const marker = await this.heads(() => bucket.head(full));
        const modified = marker ? (parseModified(marker.metadata[META_MODIFIED]) ?? marker.lastModified.getTime()) : IMPLICIT_FOLDER_MODIFIED;
        await this.cache.putFolder(bucket.scope, full, modified);
        return modified;
      }),
    );
  }
}

const JOB_TTL_MS = 24 * 3600 * 1000;
