import { createHash } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { BucketStore } from '../../storage/bucket-store.js';
import type { SessionStore } from '../../storage/session-store/types.js';
import type { AccountResolver } from '../auth/sessions.js';
import { storeKeys } from '../store-keys.js';

/**
 * A multipart upload the gateway started, so that sweeps abort only its own orphans, with the credentials
 * of the account that started them (in the s3 and pydio modes there are no others).
 */
export interface MultipartRecord {
  key: string;
  /** The bucket's scope (BucketStore.scope); absent in records written before mounts: the account's own bucket. */
  bucket?: string;
  uploadId: string;
  principal: string;
  /** A segmented upload session that owns it, or a streamed upload's lease end (epoch ms). */
  session?: string;
  leaseUntil?: number;
  /**
   * The sign-in session whose own S3 credential the principal is (s3 and pydio modes): the record is kept
   * no longer than that session, and used once, to abort the upload, when either ends.
   */
  signIn?: string;
}

/** The operator's bucket of a scope, for uploads started inside a mount (reached with the endpoint's keys). */
export type BucketByScope = (scope: string) => BucketStore | undefined;

/** Tells whether a sign-in session has ended (signed out, expired, ended for safety). */
export type SignInEnded = (familyId: string) => Promise<boolean>;

const REGISTRY_TTL_MS = 8 * 24 * 3600 * 1000;
const sha = (s: string) => createHash('sha256').update(s).digest('base64url');
const key = {
  multipart: (uploadId: string) => storeKeys.multipart(sha(uploadId)),
  multipartById: storeKeys.multipart,
  registry: storeKeys.multipartRegistry,
};

/**
 * The multipart uploads the gateway has open, in the session store, and the sweep that aborts those
 * nothing owns any more. Nothing relies on bucket lifecycle rules.
 */
export class MultipartRegistry {
  constructor(
    private readonly accounts: AccountResolver,
    private readonly store: SessionStore,
    private readonly logger: Logger,
    private readonly signInEnded: SignInEnded,
    private readonly bucketByScope: BucketByScope = () => undefined,
  ) {}

  async register(record: MultipartRecord): Promise<void> {
    await this.store.set(key.multipart(record.uploadId), JSON.stringify(record), REGISTRY_TTL_MS);
    await this.store.addToSet(key.registry, sha(record.uploadId), REGISTRY_TTL_MS);
  }

  /**
   * Tracks the multipart upload a stream is writing, for as long as its request lives: `onMultipart`
   * stores a record leased for `leaseMs` (awaited: an upload that cannot be recorded does not start) and
   * renews it while the stream runs; `end` stops renewing and drops the record. A process killed
   * half-way stops renewing, and a sweep after the lease aborts the upload.
   */
  leaseFor(
    record: Omit<MultipartRecord, 'uploadId' | 'leaseUntil' | 'session'>,
    leaseMs: number,
  ): {
    onMultipart: (uploadId: string) => Promise<void>;
    end: () => void;
  } {
    let uploadId: string | undefined;
    let renew: NodeJS.Timeout | undefined;
    const lease = () => this.register({ ...record, uploadId: uploadId!, leaseUntil: Date.now() + leaseMs });
    return {
      onMultipart: async (id) => {
        uploadId = id;
        await lease();
        // A renewal that fails is tried again at the next one.
        renew = setInterval(() => void lease().catch(() => undefined), leaseMs / 3);
        renew.unref();
      },
      end: () => {
        clearInterval(renew);
        if (uploadId) void this.unregister(uploadId).catch(() => undefined);
      },
    };
  }

  async unregister(s3UploadId: string): Promise<void> {
    await this.store.delete(key.multipart(s3UploadId));
    await this.store.removeFromSet(key.registry, sha(s3UploadId));
  }

  /**
   * Aborts the gateway's own multipart uploads that nothing owns any more: segmented uploads whose session
   * ended (expired or lost), streamed uploads whose request died with its process, and uploads made with a
   * person's own credential whose sign-in session ended. Uploads other tools started are not in the
   * registry and are left alone. Each is aborted with its own account's credentials; one whose credentials
   * no longer work waits for the next sweep until its record expires, except a person's own credential,
   * which is tried once and then dropped: the gateway keeps nobody's key past their session.
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
      if (await this.isOwned(rec)) continue;
      try {
        await (await this.bucketOf(rec)).abortMultipart(rec.key, rec.uploadId);
        await this.unregister(rec.uploadId);
        aborted++;
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        if (rec.signIn === undefined) {
          this.logger.warn('could not abort an orphaned multipart upload yet', { error });
          continue;
        }
        await this.unregister(rec.uploadId);
        this.logger.warn("could not abort an orphaned multipart upload, and its owner's credential is not kept: abort it by hand", {
          key: rec.key,
          error,
        });
      }
      // An upload session left open by a session that ended has nothing to go on with.
      if (rec.session) await this.store.delete(storeKeys.upload(rec.session));
    }
    return aborted;
  }

  /** The account's own bucket (its credentials), or the mount's bucket the upload was started in. */
  private async bucketOf(rec: MultipartRecord): Promise<BucketStore> {
    const account = await this.accounts.resolve(rec.principal);
    if (account && (rec.bucket === undefined || rec.bucket === account.bucket.scope)) return account.bucket;
    const mounted = rec.bucket === undefined ? undefined : this.bucketByScope(rec.bucket);
    if (mounted) return mounted;
    throw new Error(account ? 'its bucket is no longer configured' : 'its account no longer exists');
  }

  private async isOwned(rec: MultipartRecord): Promise<boolean> {
    if (!rec.session) return (rec.leaseUntil ?? 0) > Date.now();
    if ((await this.store.get(storeKeys.upload(rec.session))) === null) return false;
    return rec.signIn === undefined || !(await this.signInEnded(rec.signIn));
  }

  /**
   * Sweeps at start-up and then every `intervalSec` (0: start-up only). `firstRun` settles when the
   * start-up sweep is over, so that it is done (and logged) before the gateway serves.
   */
  startSweeping(intervalSec: number): { firstRun: Promise<void>; stop(): void } {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const run = async () => {
      try {
        const aborted = await this.sweep();
        if (aborted) this.logger.info('aborted orphaned multipart uploads', { count: aborted });
      } catch (err) {
        this.logger.warn('multipart upload sweep failed; it runs again later', { error: err instanceof Error ? err.message : String(err) });
      }
      if (intervalSec > 0 && !stopped) {
        timer = setTimeout(() => void run(), intervalSec * 1000);
        timer.unref();
      }
    };
    const firstRun = run();
    return {
      firstRun,
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }
}
