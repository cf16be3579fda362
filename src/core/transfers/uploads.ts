import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { lookup as mimeLookup } from 'mime-types';
import type { CommittedObject, ObjectHead, StagedObject } from '../../storage/s3/bucket.js';
import { sameEtag } from '../../storage/s3/etags.js';
import { S3_MAX_OBJECT_BYTES } from '../../storage/s3/limits.js';
import type { SessionStore } from '../../storage/session-store/types.js';
import type { Logger } from '../../log.js';
import type { Account } from '../auth/accounts.js';
import type { AccountResolver } from '../auth/sessions.js';
import { GatewayError, invalid } from '../../errors.js';
import { META_MODIFIED, META_SHA256, type BucketFileSystem, type Entry } from '../file-system.js';
import { checkName, decodeId, isFolderKey } from '../ids.js';
import type { MetadataCache } from '../metadata-cache.js';
import type { Lease } from '../namespace-locks.js';
import { storeKeys } from '../store-keys.js';
import { VerifiedStream } from './verified-stream.js';

/** What a client says about the bytes it sends, already checked. */
export interface FileDeclaration {
  modified: number;
  size: number;
  sha256: string | undefined;
}

/** The request fields of a declaration, in the caller's dialect, for error messages. */
export interface DeclarationFields {
  name: string;
  modified: string;
  size: string;
  sha256: string;
}


export function readDeclaration(raw: Record<string, unknown>, f: DeclarationFields): FileDeclaration {
  const size = raw[f.size];
  if (size === undefined || size === null) throw invalid(f.size, 'is required');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(f.size, 'must be a whole number of bytes');
  if (size > S3_MAX_OBJECT_BYTES) throw invalid(f.size, `must be at most ${S3_MAX_OBJECT_BYTES} bytes (S3's limit)`);
  const modified = raw[f.modified];
  if (modified !== undefined && modified !== null && (typeof modified !== 'number' || !Number.isSafeInteger(modified) || modified <= 0)) {
    throw invalid(f.modified, 'must be a positive integer (epoch milliseconds)');
  }
  return { size, modified: (modified as number | undefined) ?? Date.now(), sha256: readSha256(raw[f.sha256], f.sha256) };
}

export function readSha256(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) throw invalid(field, 'must be 64 hexadecimal characters');
  return value.toLowerCase();
}

/** The object metadata the gateway writes with a file: the client's modified time, and the sha256 when known. */
function objectMetadata(d: { modified: number; sha256: string | undefined }): Record<string, string> {
  return { [META_MODIFIED]: String(d.modified), ...(d.sha256 ? { [META_SHA256]: d.sha256 } : {}) };
}

export const contentTypeOf = (name: string) => mimeLookup(name) || 'application/octet-stream';

export interface UploadOptions {
  partSize: number;
  queueSize: number;
  segmentSize: number;
  sessionTtlMs: number;
  /**
   * A streamed upload's multipart upload is leased for this long and renewed while its request lives; a
   * killed process stops renewing it, and a sweep after the lease ends aborts it.
   */
  streamLeaseMs: number;
}

interface SegmentPlan {
  number: number;
  size: number;
  sha256: string;
}

/** A segmented upload in the session store: any instance can take any of its segments. */
interface UploadSession {
  account: string;
  key: string;
  isNew: boolean;
  /** For a new file: the parent folder's relative key and the name; for an update: the file's id. */
  target: string;
  s3UploadId: string;
  size: number;
  modified: number;
  sha256: string | undefined;
  segments: SegmentPlan[];
  cookieHash: string;
  expiresAt: number;
}

/**
 * Multipart uploads the gateway started, so that sweeps abort only its own orphans, with the credentials
 * of the account that started them (in the s3 and pydio modes there are no others).
 */
interface MultipartRecord {
  key: string;
  uploadId: string;
  principal: string;
  /** A segmented upload session that owns it, or a streamed upload's lease end (epoch ms). */
  session?: string;
  leaseUntil?: number;
}

const REGISTRY_TTL_MS = 8 * 24 * 3600 * 1000;
const sha = (s: string) => createHash('sha256').update(s).digest('base64url');
const key = {
  session: storeKeys.upload,
  part: storeKeys.uploadPart,
  multipart: (uploadId: string) => storeKeys.multipart(sha(uploadId)),
  multipartById: storeKeys.multipart,
  registry: storeKeys.multipartRegistry,
};

export interface SegmentInput {
  number: unknown;
  size: unknown;
  sha256: unknown;
}

export interface StartedUpload {
  id: string;
  cookie: string;
  expiresAt: number;
  segments: Array<SegmentPlan & { cookie: string }>;
}

/**
 * Uploads in one request (streamed) and in segments (one S3 multipart upload whose state lives in the
 * session store). Bytes are staged first, invisible and holding up nobody; then, holding the file's name,
 * the gateway checks again that the upload may happen (the name still free, the file still there) and
 * commits in one step. Nothing becomes visible until every check has passed.
 */
export class UploadService {
  constructor(
    private readonly accounts: AccountResolver,
    private readonly files: BucketFileSystem,
    private readonly cache: MetadataCache,
    private readonly store: SessionStore,
    private readonly opts: UploadOptions,
    private readonly logger: Logger,
  ) {}

  // ---------------------------------------------------------------- one request

  async uploadNew(account: Account, parentId: string, name: unknown, d: FileDeclaration, body: Readable, f: DeclarationFields): Promise<Entry> {
    this.files.assertWritable(account);
    const parentRel = await this.files.folderKeyOf(account, parentId, 'id');
    checkName(name, f.name, (n) => `${account.root}${parentRel}${n}`);
    const rel = `${parentRel}${name as string}`;
    // A large body is refused before it is read when it could not be stored anyway; the check that
    // counts is the one made again at the commit.
    if (d.size > this.opts.partSize) await this.assertNameFree(account, parentRel, rel, f.name);
    return this.store1(account, rel, d, body, f, { isNew: true, parentRel, nameField: f.name });
  }

  async update(account: Account, id: string, d: FileDeclaration, body: Readable, f: DeclarationFields): Promise<Entry> {
    this.files.assertWritable(account);
    const rel = fileRelOf(id, 'id');
    if (d.size > this.opts.partSize) await this.assertFileExists(account, rel);
    return this.store1(account, rel, d, body, f, { isNew: false });
  }

  /** The parent folder exists and nothing has the name (else 404, 409). */
  private async assertNameFree(account: Account, parentRel: string, rel: string, nameField: string): Promise<void> {
    await this.files.assertFolder(account, parentRel);
    if (await this.files.nameTaken(account.bucket, account.root + rel)) {
      throw new GatewayError('conflict', `${nameField}: a file or folder with this name already exists`, { field: nameField });
    }
  }

  private async assertFileExists(account: Account, rel: string): Promise<void> {
    if (!(await account.bucket.head(account.root + rel))) throw new GatewayError('not_found', 'No such file.');
  }

  private async store1(account: Account, rel: string, d: FileDeclaration, body: Readable, f: DeclarationFields, target: CommitTarget) {
    const full = account.root + rel;
    const verified = new VerifiedStream({ size: d.size, sha256: d.sha256, sizeField: f.size, sha256Field: f.sha256 });
    // The request's failure (client gone) reaches the upload through the verifying stream.
    pipeline(body, verified, () => undefined);
    let multipart: string | undefined;
    let renew: NodeJS.Timeout | undefined;
    const lease = () =>
      this.register({ key: full, uploadId: multipart!, principal: account.principal, leaseUntil: Date.now() + this.opts.streamLeaseMs }).catch(() => undefined);
    try {
      const staged = await account.bucket.stage(
        full,
        verified,
        { contentType: contentTypeOf(full), metadata: objectMetadata(d) },
        {
          size: d.size,
          partSize: this.opts.partSize,
          queueSize: this.opts.queueSize,
          onMultipart: (uploadId) => {
            multipart = uploadId;
            void lease();
            renew = setInterval(() => void lease(), this.opts.streamLeaseMs / 3);
            renew.unref();
          },
        },
      );
      // The body is whole and checked: its sha256 is known even when the client did not declare it.
      try {
        return await this.commit(account, rel, staged, { ...d, sha256: verified.sha256 }, target);
      } catch (err) {
        await staged.discard().catch(() => undefined);
        throw err;
      }
    } finally {
      clearInterval(renew);
      if (multipart) void this.unregister(multipart).catch(() => undefined);
    }
  }

  /**
   * Holding the file's name: checks again that the write may happen, commits the staged bytes, and
   * checks what S3 stored. A segmented upload also re-reads its session first (`recheck`) and forgets it
   * once committed (`committed`), both under the same lock.
   */
  private commit(
    account: Account,
    rel: string,
    staged: StagedObject,
    d: FileDeclaration,
    target: CommitTarget,
    hooks: { recheck?: () => Promise<void>; committed?: () => Promise<void> } = {},
  ): Promise<Entry> {
    return this.files.locked(account, [rel], async (lease) => {
      await hooks.recheck?.();
      if (target.isNew) await this.assertNameFree(account, target.parentRel, rel, target.nameField);
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
    await this.cache.put(bucket.name, head, facts);
    return this.files.fileEntry(account, head, facts);
  }

  // ---------------------------------------------------------------- segmented

  async start(
    account: Account,
    target: { id?: unknown; parentId?: unknown; name?: unknown },
    d: FileDeclaration,
    segments: unknown,
    fields: { segments: string } & DeclarationFields,
  ): Promise<StartedUpload> {
    this.files.assertWritable(account);
    const plan = this.planSegments(account, segments, d.size, fields.segments);
    let rel: string;
    let isNew: boolean;
    let targetRef: string;
    if (target.id !== undefined && target.id !== null) {
      if (typeof target.id !== 'string') throw invalid('gateway.metadata.id', 'must be a string');
      rel = fileRelOf(target.id, 'gateway.metadata.id');
      await this.assertFileExists(account, rel);
      isNew = false;
      targetRef = target.id;
    } else {
      if (typeof target.parentId !== 'string') throw invalid('gateway.metadata.parent.id', 'is required (or gateway.metadata.id to update a file)');
      const parentRel = await this.files.folderKeyOf(account, target.parentId, 'gateway.metadata.parent.id');
      checkName(target.name, fields.name, (n) => `${account.root}${parentRel}${n}`);
      rel = `${parentRel}${target.name as string}`;
      // Checked now so that nobody sends gigabytes for nothing; checked again when the upload finishes.
      await this.assertNameFree(account, parentRel, rel, fields.name);
      isNew = true;
      targetRef = `${parentRel}\0${target.name as string}`;
    }
    const full = account.root + rel;
    const s3UploadId = await account.bucket.createMultipart(full, { contentType: contentTypeOf(full), metadata: objectMetadata(d) });
    const id = randomBytes(16).toString('base64url');
    const cookie = randomBytes(32).toString('base64url');
    const expiresAt = Date.now() + this.opts.sessionTtlMs;
    const session: UploadSession = {
      account: account.name,
      key: full,
      isNew,
      target: targetRef,
      s3UploadId,
      size: d.size,
      modified: d.modified,
      sha256: d.sha256,
      segments: plan,
      cookieHash: sha(cookie),
      expiresAt,
    };
    await this.store.set(key.session(id), JSON.stringify(session), this.opts.sessionTtlMs);
    await this.register({ key: full, uploadId: s3UploadId, principal: account.principal, session: id });
    return { id, cookie, expiresAt, segments: plan.map((s) => ({ ...s, cookie: segmentCookie(s.number, undefined) })) };
  }

  /**
   * Every non-final segment has the one segment size (some servers refuse unequal parts); sizes add up;
   * numbers run 1..N.
   */
  private planSegments(account: Account, raw: unknown, total: number, field: string): SegmentPlan[] {
    const { maxParts } = account.bucket.profile;
    if (!Array.isArray(raw) || raw.length === 0) throw invalid(field, 'must be a non-empty list of segments');
    if (raw.length > maxParts) throw invalid(field, `has ${raw.length} segments; this S3 allows ${maxParts}`);
    const size = this.opts.segmentSize;
    const plan = raw.map((s: unknown, i) => {
      const seg = (s ?? {}) as Record<string, unknown>;
      const n = seg['gateway.upload.segment.number'];
      const bytes = seg['gateway.upload.segment.size'];
      const where = `${field}[${i}]`;
      if (n !== i + 1) throw invalid(`${where}.gateway.upload.segment.number`, `must be ${i + 1} (segments are numbered from 1, in order)`);
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw invalid(`${where}.gateway.upload.segment.size`, 'must be a whole number of bytes');
      const last = i === raw.length - 1;
      if (!last && bytes !== size) {
        throw invalid(`${where}.gateway.upload.segment.size`, `must be ${size} (gateway.upload.segment.size) for every segment but the last`);
      }
      if (last && (bytes > size || (bytes === 0 && raw.length > 1))) throw invalid(`${where}.gateway.upload.segment.size`, `must be between 1 and ${size} for the last segment`);
      const sum = readSha256(seg['gateway.upload.segment.sha256'], `${where}.gateway.upload.segment.sha256`);
      if (!sum) throw invalid(`${where}.gateway.upload.segment.sha256`, 'is required');
      return { number: i + 1, size: bytes, sha256: sum };
    });
    const sum = plan.reduce((a, s) => a + s.size, 0);
    if (sum !== total) throw invalid(field, `segment sizes add up to ${sum}, not the declared ${total} bytes`);
    return plan;
  }

  /** An upload of this account that is still open; 404 otherwise (whoever else's it may be). */
  private async load(account: Account, id: string): Promise<UploadSession> {
    const raw = /^[A-Za-z0-9_-]{22}$/.test(id) ? await this.store.get(key.session(id)) : null;
    const s = raw ? (JSON.parse(raw) as UploadSession) : undefined;
    if (!s || s.account !== account.name || s.expiresAt <= Date.now()) throw new GatewayError('not_found', 'No such upload (unknown, finished, cancelled or expired).');
    return s;
  }

  /** As load, and the client must hold the upload's cookie. */
  private async session(account: Account, id: string, cookie: unknown): Promise<UploadSession> {
    const s = await this.load(account, id);
    const given = typeof cookie === 'string' ? Buffer.from(sha(cookie)) : Buffer.alloc(0);
    const expected = Buffer.from(s.cookieHash);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new GatewayError('forbidden', 'gateway.upload.cookie: does not belong to this upload', { field: 'gateway.upload.cookie' });
    }
    return s;
  }

  async uploadSegment(
    account: Account,
    uploadId: string,
    header: Record<string, unknown>,
    body: Readable,
  ): Promise<SegmentPlan & { cookie: string }> {
    const s = await this.session(account, uploadId, header['gateway.upload.cookie']);
    const n = header['gateway.upload.segment.number'];
    const plan = s.segments.find((p) => p.number === n);
    if (!plan) throw invalid('gateway.upload.segment.number', `must be one of 1..${s.segments.length}`);
    const size = header['gateway.upload.segment.size'];
    if (size !== plan.size) throw invalid('gateway.upload.segment.size', `must be ${plan.size}, as declared when the upload started`);
    const digest = readSha256(header['gateway.upload.segment.sha256'], 'gateway.upload.segment.sha256');
    if (digest !== undefined && digest !== plan.sha256) throw invalid('gateway.upload.segment.sha256', 'differs from the one declared when the upload started');
    const verified = new VerifiedStream({
      size: plan.size,
      sha256: plan.sha256,
      sizeField: 'gateway.upload.segment.size',
      sha256Field: 'gateway.upload.segment.sha256',
    });
    pipeline(body, verified, () => undefined);
    const etag = await account.bucket.uploadPart(s.key, s.s3UploadId, plan.number, verified, plan.size);
    await this.store.set(key.part(uploadId, plan.number), etag, Math.max(1, s.expiresAt - Date.now()));
    return { ...plan, cookie: segmentCookie(plan.number, etag) };
  }

  async finish(
    account: Account,
    target: { id?: string; parentId?: string; name?: unknown },
    d: FileDeclaration,
    uploadId: unknown,
    cookie: unknown,
  ): Promise<Entry> {
    if (typeof uploadId !== 'string' || uploadId === '') throw invalid('gateway.upload.id', 'is required');
    const s = await this.session(account, uploadId, cookie);
    const ref = target.id ?? `${decodeId(target.parentId ?? '', 'id')}\0${String(target.name)}`;
    if (ref !== s.target) throw invalid(target.id ? 'id' : 'gateway.metadata.name', 'is not the file this upload was started for');
    if (d.size !== s.size) throw invalid('gateway.metadata.file.size', `must be ${s.size}, as declared when the upload started`);
    const etags = await this.store.getMany(s.segments.map((p) => key.part(uploadId, p.number)));
    const missing = s.segments.filter((_, i) => !etags[i]).map((p) => p.number);
    if (missing.length) throw invalid('gateway.upload.segment', `segment(s) ${missing.slice(0, 10).join(', ')} have not been uploaded`);
    const stored = { modified: s.modified, size: s.size, sha256: s.sha256 };
    const parts = s.segments.map((p, i) => ({ partNumber: p.number, etag: etags[i]! }));
    const staged = account.bucket.multipartObject(s.key, s.s3UploadId, s.size, parts, objectMetadata(stored));
    const rel = s.key.slice(account.root.length);
    const commitTarget: CommitTarget = s.isNew ? { isNew: true, parentRel: s.target.slice(0, s.target.indexOf('\0')), nameField: 'gateway.metadata.name' } : { isNew: false };
    try {
      // Under the name's lock: a concurrent finish or cancel of the same upload either went first (and
      // the session is gone: 404) or waits for this one.
      return await this.commit(account, rel, staged, stored, commitTarget, {
        recheck: async () => void (await this.session(account, uploadId, cookie)),
        committed: () => this.forget(uploadId, s),
      });
    } catch (err) {
      // An upload that can never finish (its name taken, its file or folder gone) is cleared away now.
      if (err instanceof GatewayError && (err.kind === 'conflict' || err.kind === 'not_found') && (await this.store.get(key.session(uploadId))) !== null) {
        await staged.discard().catch(() => undefined);
        await this.forget(uploadId, s);
      }
      throw err;
    }
  }

  async cancel(account: Account, uploadId: string): Promise<void> {
    const s = await this.load(account, uploadId);
    await this.files.locked(account, [s.key.slice(account.root.length)], async () => {
      await this.load(account, uploadId); // a finish that went first took it
      await account.bucket.abortMultipart(s.key, s.s3UploadId);
      await this.forget(uploadId, s);
    });
  }

  private async forget(uploadId: string, s: UploadSession): Promise<void> {
    await this.store.delete(key.session(uploadId), ...s.segments.map((p) => key.part(uploadId, p.number)));
    await this.unregister(s.s3UploadId);
  }

  private async register(record: MultipartRecord): Promise<void> {
    await this.store.set(key.multipart(record.uploadId), JSON.stringify(record), REGISTRY_TTL_MS);
    await this.store.addToSet(key.registry, sha(record.uploadId), REGISTRY_TTL_MS);
  }

  private async unregister(s3UploadId: string): Promise<void> {
    await this.store.delete(key.multipart(s3UploadId));
    await this.store.removeFromSet(key.registry, sha(s3UploadId));
  }

  /**
   * Aborts the gateway's own multipart uploads that nothing owns any more: segmented uploads whose session
   * ended (expired or lost) and streamed uploads whose request died with its process. Uploads other tools
   * started are not in the registry and are left alone. Each is aborted with its own account's
   * credentials; one whose credentials no longer work (an expired Cells token) waits for the next sweep,
   * until its record expires.
   */
  async sweep(): Promise<number> {
    let aborted = 0;
    for (const id of await this.store.setMembers(key.registry)) {
      const raw = await this.store.get(key.multipartById(id));
      if (!raw) {
        await this.store.removeFromSet(key.registry, id);
        continue;
      }
      const rec = JSON.parse(raw) as MultipartRecord;
      const live = rec.session ? (await this.store.get(key.session(rec.session))) !== null : (rec.leaseUntil ?? 0) > Date.now();
      if (live) continue;
      try {
        const account = await this.accounts.resolve(rec.principal);
        if (!account) throw new Error('its account no longer exists');
        await account.bucket.abortMultipart(rec.key, rec.uploadId);
        await this.unregister(rec.uploadId);
        aborted++;
      } catch (err) {
        this.logger.warn('could not abort an orphaned multipart upload yet', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    return aborted;
  }
}

/** What a commit must find: a free name in an existing folder (new file), or the file (update). */
type CommitTarget = { isNew: true; parentRel: string; nameField: string } | { isNew: false };

/** The relative key of an id that must name a file (400 for a folder). */
function fileRelOf(id: string, field: string): string {
  const rel = decodeId(id, field);
  if (rel === '' || isFolderKey(rel)) throw invalid(field, 'is a folder, not a file');
  return rel;
}

/** Opaque to clients; says which segment it is and which stored part it stands for. */
function segmentCookie(n: number, etag: string | undefined): string {
  return Buffer.from(JSON.stringify([n, etag ?? null])).toString('base64url');
}
