import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { fieldError, GatewayError, invalid } from '../../errors.js';
import type { SessionStore } from '../../storage/session-store/types.js';
import type { Account } from '../auth/accounts.js';
import type { BucketFileSystem, Entry } from '../file-system.js';
import { checkName, decodeId } from '../ids.js';
import { storeKeys } from '../store-keys.js';
import { contentTypeOf } from './content-type.js';
import { readSha256, type FileDeclaration } from './declarations.js';
import type { MultipartRegistry } from './multipart-registry.js';
import { planSegments, type SegmentInput, type SegmentPlan } from './segment-plan.js';
import { fileRelOf, objectMetadata, type CommitTarget, type UploadCommits } from './object-commit.js';
import { VerifiedStream } from './verified-stream.js';

export interface SegmentedUploadOptions {
  /** Every segment but the last has this size (some servers refuse multipart uploads of unequal parts). */
  segmentSize: number;
  sessionTtlMs: number;
  /** Segmented uploads one account may have open at once; beyond, 429. */
  maxOpenPerAccount: number;
}

/** A segmented upload in the session store: any instance can take any of its segments. */
interface UploadSession {
  account: string;
  /** The bucket and prefix it was started in (see placeOf); absent in records written before mounts. */
  where?: string;
  key: string;
  isNew: boolean;
  /** For a new file: the parent folder's relative key and the name; for an update: the file's id. */
  target: string;
  s3UploadId: string;
  size: number;
  modified: number;
  sha256: string | undefined;
  plan: PackedPlan;
  /** The plan as records written before plans were packed hold it (uploads open across an upgrade). */
  segments?: SegmentPlan[];
  cookieHash: string;
  expiresAt: number;
}

/** Where a segmented upload goes: an existing file (`fileId`), or a new name in a folder. Not yet checked. */
export interface UploadTargetInput {
  fileId?: unknown;
  parentId?: unknown;
  name?: unknown;
}

/** What a client says about one segment it sends, not yet checked. */
export interface SegmentHeader {
  cookie?: unknown;
  number?: unknown;
  size?: unknown;
  sha256?: unknown;
}

/** The file a finish names: the updated file's id, or the parent folder's id and the new file's name. */
export interface FinishTarget {
  id?: string;
  parentId?: string;
  name?: unknown;
}

export interface StartedUpload {
  id: string;
  cookie: string;
  expiresAt: number;
  segments: Array<SegmentPlan & { cookie: string }>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('base64url');
const key = {
  session: storeKeys.upload,
  part: storeKeys.uploadPart,
  starting: storeKeys.uploadStarting,
  openOf: (account: string) => storeKeys.openUploads(sha(account)),
};
/** The bucket and prefix an account acts in: an upload goes on only in the place it started in. */
const placeOf = (account: Account) => `${account.bucket.scope}\0${account.root}`;
/** How long a start may take between counting the upload and writing its record. */
const STARTING_MS = 60_000;

/**
 * A plan as stored: sizes follow from the segment size and the last segment's, and the digests are kept
 * as bytes, so that a 10,000-segment plan takes 430 KB rather than a megabyte of JSON.
 */
interface PackedPlan {
  count: number;
  segmentSize: number;
  lastSize: number;
  /** The segments' sha256 digests, 32 bytes each, in order, base64. */
  sha256s: string;
}

function packPlan(plan: SegmentPlan[], segmentSize: number): PackedPlan {
  return {
    count: plan.length,
    segmentSize,
    lastSize: plan[plan.length - 1]!.size,
    sha256s: Buffer.concat(plan.map((p) => Buffer.from(p.sha256, 'hex'))).toString('base64'),
  };
}

/** Segment `n` of the plan (1-based); undefined when the plan has no such segment. */
function segmentOf(s: UploadSession, n: unknown): SegmentPlan | undefined {
  if (s.segments) return s.segments.find((p) => p.number === n);
  const { count, segmentSize, lastSize } = s.plan;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > count) return undefined;
  const digest = Buffer.from(s.plan.sha256s, 'base64').subarray((n - 1) * 32, n * 32);
  return { number: n, size: n === count ? lastSize : segmentSize, sha256: digest.toString('hex') };
}

const segmentCount = (s: UploadSession) => s.segments?.length ?? s.plan.count;

function segmentsOf(s: UploadSession): SegmentPlan[] {
  return s.segments ?? Array.from({ length: s.plan.count }, (_, i) => segmentOf(s, i + 1)!);
}

/**
 * Large uploads in segments: one S3 multipart upload whose state lives in the session store, so that any
 * instance takes any segment; each segment is checked against its declared size and sha256. Finishing
 * commits under the file's name, as every upload does.
 */
export class SegmentedUploads {
  constructor(
    private readonly files: BucketFileSystem,
    private readonly commits: UploadCommits,
    private readonly registry: MultipartRegistry,
    private readonly store: SessionStore,
    private readonly opts: SegmentedUploadOptions,
  ) {}

  /** `signIn` is the sign-in session starting it: an upload made with a person's own credential ends with it. */
  async start(
    account: Account,
    target: UploadTargetInput,
    d: FileDeclaration,
    segments: readonly SegmentInput[] | undefined,
    signIn: string,
  ): Promise<StartedUpload> {
    this.files.assertWritable(account);
    const plan = planSegments(segments, d.size, { segmentSize: this.opts.segmentSize, maxParts: account.bucket.profile.maxParts });
    let rel: string;
    let isNew: boolean;
    let targetRef: string;
    if (target.fileId !== undefined && target.fileId !== null) {
      if (typeof target.fileId !== 'string') throw invalid('fileId', 'must be a string');
      rel = fileRelOf(target.fileId, 'fileId');
      await this.commits.assertFileExists(account, rel);
      isNew = false;
      targetRef = target.fileId;
    } else {
      if (typeof target.parentId !== 'string') throw invalid('parentId', "is required (or the file's id, to update a file)");
      const parentRel = await this.files.folderKeyOf(account, target.parentId, 'parentId');
      checkName(target.name, 'name', (n) => `${account.root}${parentRel}${n}`);
      rel = `${parentRel}${target.name as string}`;
      // Checked now so that nobody sends gigabytes for nothing; checked again when the upload finishes.
      await this.commits.assertNameFree(account, parentRel, rel);
      isNew = true;
      targetRef = `${parentRel}\0${target.name as string}`;
    }
    const full = account.root + rel;
    const id = randomBytes(16).toString('base64url');
    await this.reserveOpenUpload(account, id);
    let s3UploadId: string;
    try {
      s3UploadId = await account.bucket.createMultipart(full, { contentType: contentTypeOf(full), metadata: objectMetadata(d) });
    } catch (err) {
      await this.store.removeFromSet(key.openOf(account.name), id).catch(() => undefined);
      throw err;
    }
    const cookie = randomBytes(32).toString('base64url');
    const expiresAt = Date.now() + this.opts.sessionTtlMs;
    const session: UploadSession = {
      account: account.name,
      where: placeOf(account),
      key: full,
      isNew,
      target: targetRef,
      s3UploadId,
      size: d.size,
      modified: d.modified,
      sha256: d.sha256,
      plan: packPlan(plan, this.opts.segmentSize),
      cookieHash: sha(cookie),
      expiresAt,
    };
    await this.store.set(key.session(id), JSON.stringify(session), this.opts.sessionTtlMs);
    await this.registry.register({
      key: full,
      bucket: account.bucket.scope,
      uploadId: s3UploadId,
      principal: account.principal,
      session: id,
      ...(account.ownCredentials ? { signIn } : {}),
    });
    await this.store.delete(key.starting(id));
    return { id, cookie, expiresAt, segments: plan.map((s) => ({ ...s, cookie: segmentCookie(s.number, undefined) })) };
  }

  /**
   * Counts a new upload among the account's open ones, or refuses it (429) when they are at the limit.
   * Added first and counted after, so that concurrent starts can never together pass the limit.
   */
  private async reserveOpenUpload(account: Account, id: string): Promise<void> {
    const open = key.openOf(account.name);
    // Marks the upload as starting (its record is not written yet), on whichever instance counts next.
    await this.store.set(key.starting(id), '1', STARTING_MS);
    await this.store.addToSet(open, id, this.opts.sessionTtlMs);
    const members = await this.store.setMembers(open);
    const others = members.filter((m) => m !== id);
    const alive = await this.store.getMany(others.flatMap((m) => [key.session(m), key.starting(m)]));
    // Uploads that finished, were cancelled, expired or never started leave the set here.
    const gone = others.filter((_, i) => alive[2 * i] === null && alive[2 * i + 1] === null);
    for (const m of gone) await this.store.removeFromSet(open, m);
    if (members.length - gone.length > this.opts.maxOpenPerAccount) {
      await this.store.removeFromSet(open, id);
      throw new GatewayError('rate_limited', `This account has ${this.opts.maxOpenPerAccount} segmented uploads open; finish or cancel one first.`, {
        retryAfterSec: 60,
      });
    }
  }

  /** An upload of this account that is still open; 404 otherwise (whoever else's it may be). */
  private async load(account: Account, id: string): Promise<UploadSession> {
    const raw = /^[A-Za-z0-9_-]{22}$/.test(id) ? await this.store.get(key.session(id)) : null;
    const s = raw ? (JSON.parse(raw) as UploadSession) : undefined;
    if (!s || s.account !== account.name || (s.where !== undefined && s.where !== placeOf(account)) || s.expiresAt <= Date.now())
      throw new GatewayError('not_found', 'No such upload (unknown, finished, cancelled or expired).');
    return s;
  }

  /** As load, and the client must hold the upload's cookie. */
  private async session(account: Account, id: string, cookie: unknown): Promise<UploadSession> {
    const s = await this.load(account, id);
    const given = typeof cookie === 'string' ? Buffer.from(sha(cookie)) : Buffer.alloc(0);
    const expected = Buffer.from(s.cookieHash);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw fieldError('forbidden', { field: 'cookie', problem: 'does not belong to this upload' });
    }
    return s;
  }

  async uploadSegment(account: Account, uploadId: string, header: SegmentHeader, body: Readable): Promise<SegmentPlan & { cookie: string }> {
    const s = await this.session(account, uploadId, header.cookie);
    // One segment of the plan, not all of them: this runs for each of up to 10,000 segments.
    const plan = segmentOf(s, header.number);
    if (!plan) throw invalid('segmentNumber', `must be one of 1..${segmentCount(s)}`);
    if (header.size !== plan.size) throw invalid('segmentSize', `must be ${plan.size}, as declared when the upload started`);
    const digest = readSha256(header.sha256, 'segmentSha256');
    if (digest !== undefined && digest !== plan.sha256) throw invalid('segmentSha256', 'differs from the one declared when the upload started');
    const verified = new VerifiedStream({ size: plan.size, sha256: plan.sha256, sizeField: 'segmentSize', sha256Field: 'segmentSha256' });
    pipeline(body, verified, () => undefined);
    const etag = await account.bucket.uploadPart(s.key, s.s3UploadId, plan.number, verified, plan.size);
    await this.store.set(key.part(uploadId, plan.number), etag, Math.max(1, s.expiresAt - Date.now()));
    return { ...plan, cookie: segmentCookie(plan.number, etag) };
  }

  async finish(account: Account, target: FinishTarget, d: FileDeclaration, uploadId: unknown, cookie: unknown): Promise<Entry> {
    if (typeof uploadId !== 'string' || uploadId === '') throw invalid('uploadId', 'is required');
    const s = await this.session(account, uploadId, cookie);
    const ref = target.id ?? `${decodeId(target.parentId ?? '', 'id')}\0${String(target.name)}`;
    if (ref !== s.target) throw invalid(target.id ? 'id' : 'name', 'is not the file this upload was started for');
    if (d.size !== s.size) throw invalid('size', `must be ${s.size}, as declared when the upload started`);
    const segments = segmentsOf(s);
    const etags = await this.store.getMany(segments.map((p) => key.part(uploadId, p.number)));
    const missing = segments.filter((_, i) => !etags[i]).map((p) => p.number);
    if (missing.length) throw invalid('segments', `segment(s) ${missing.slice(0, 10).join(', ')} have not been uploaded`);
    const stored = { modified: s.modified, size: s.size, sha256: s.sha256 };
    const parts = segments.map((p, i) => ({ partNumber: p.number, etag: etags[i]! }));
    const staged = account.bucket.multipartObject(s.key, s.s3UploadId, s.size, parts, objectMetadata(stored));
    const rel = s.key.slice(account.root.length);
    const commitTarget: CommitTarget = s.isNew ? { isNew: true, parentRel: s.target.slice(0, s.target.indexOf('\0')) } : { isNew: false };
    try {
      // Under the name's lock: a concurrent finish or cancel of the same upload either went first (and
      // the session is gone: 404) or waits for this one.
      return await this.commits.commit(account, rel, staged, stored, commitTarget, {
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
    await this.store.delete(key.session(uploadId), ...segmentsOf(s).map((p) => key.part(uploadId, p.number)));
    await this.store.removeFromSet(key.openOf(s.account), uploadId);
    await this.registry.unregister(s.s3UploadId);
  }
}

/** Opaque to clients; says which segment it is and which stored part it stands for. */
function segmentCookie(n: number, etag: string | undefined): string {
  return Buffer.from(JSON.stringify([n, etag ?? null])).toString('base64url');
}
