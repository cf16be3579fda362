import { hash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import type { Logger } from 'winston';
import type { BucketStore, ObjectSummary } from '../../storage/bucket-store.js';
import type { SessionStore } from '../../storage/session-store/types.js';
import { unquoted } from '../../storage/s3/etags.js';
import { GatewayError } from '../../errors.js';
import { LEGACY_FOLDER_SUFFIX } from '../listing.js';
import type { MetadataCache } from '../metadata-cache.js';
import { isLockTimeout, type Lease, type NamespaceLocks } from '../namespace-locks.js';
import { storeKeys } from '../store-keys.js';
import { JobViewBucket, type JobSpan } from './view.js';

/**
 * Folder renames, moves and deletes as jobs that outlive the request, the process and the client.
 *
 * A job is a record in the session store (what, where, how far, whose) and an entry in two indexes (its
 * bucket's, for the view every instance presents, and everyone's, for takeover). The job holds the
 * namespace locks of its source and target from start to end, so writes into either wait for it; its
 * lease is its heartbeat. It walks the source in key order a page at a time: copies the page, checks each
 * copy, deletes the page's sources, then records the last key as its cursor. An owner that dies leaves
 * the record and, one lease later, the locks: any instance then takes the job over from its cursor.
 *
 * The request that starts a job (or a repeat of it, which joins it) waits for it up to a bounded time,
 * then answers as if it were done; from then on every instance shows it done (see view.ts).
 */

export interface FolderJob {
  /** The same for every request that asks the same thing (a repeat joins the job). */
  id: string;
  op: 'move' | 'delete';
  scope: string;
  /** Whose credentials reach the bucket, for an instance that takes the job over. */
  principal: string;
  /** Full keys, ending in '/'. */
  from: string;
  to?: string | undefined;
  /** The folder's modified time: its entry's after a move. */
  modified: number;
  /** The source's parent (full key), which stays a folder when this was its last child; none for an account's root. */
  keep?: string | undefined;
  /** Every source key up to this one (in S3's order) is copied, checked and deleted. */
  cursor?: string | undefined;
  owner: string;
  /** When the owner last said it is working (epoch ms). */
  beat: number;
  started: number;
  /** Objects done so far. */
  done: number;
  /** Attempts that failed, and the last one's error: the next waits longer. */
  failures: number;
  lastError?: string | undefined;
}

export interface FolderJobRequest {
  op: 'move' | 'delete';
  /** The bucket as it is (not a view). */
  bucket: BucketStore;
  principal: string;
  from: string;
  to?: string | undefined;
  keep?: string | undefined;
  /** The request's own checks, run holding the job's names before it is recorded; answers the folder's time. */
  check(): Promise<number>;
}

export interface FolderJobOptions {
  /** How long a request waits for its job before answering as if it were done. */
  waitMs: number;
  /** Jobs this instance runs at once (started here or taken over). */
  maxRunning: number;
  /** Copies one job runs at once. */
  copyConcurrency: number;
  /** How often this instance looks for jobs whose owner stopped (a lock lease is when their locks end). */
  takeoverEveryMs: number;
}

/** Finds a bucket again for a job taken over: the account's own, or a mount's. */
export type JobBucketResolver = (principal: string, scope: string) => Promise<BucketStore | undefined>;

/** Keeps a folder that lost its last child (file-system.ts). */
export type FolderKeeper = (bucket: BucketStore, folderKey: string, lease: Lease) => Promise<void>;

const PAGE = 1000;
const BEAT_MS = 5000;
/** An owner silent this long is presumed gone: its job is taken over once its locks end. */
const SILENT_MS = 3 * BEAT_MS;
const RECORD_TTL_MS = 24 * 3600 * 1000;
/** Other instances' jobs are looked up at most this often per bucket for the view; see README for why it is safe. */
const VIEW_REFRESH_MS = 200;

const keys = {
  record: (id: string) => `${storeKeys.folderJobs.record}${id}`,
  inScope: (scope: string) => `${storeKeys.folderJobs.byBucket}${hash('sha256', scope, 'base64url').slice(0, 22)}`,
  all: storeKeys.folderJobs.all,
};

const spans = (j: { from: string; to?: string | undefined }) => (j.to === undefined ? [j.from] : [j.from, j.to]);
const spanOf = (j: FolderJob): JobSpan => ({ from: j.from, to: j.to, keep: j.keep });
const nested = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);
const overlaps = (a: { from: string; to?: string | undefined }, names: string[]) => spans(a).some((s) => names.some((n) => nested(s, n)));

const conflict = () =>
  new GatewayError('conflict', 'Another rename, move or delete of this folder, or of a folder around it or in it, is under way; try again once it is done.');
const waitForJob = () => new GatewayError('unavailable', 'A folder operation on this folder is being finished; try again shortly.', { retryAfterSec: 5 });
const stoppingNow = () => new GatewayError('unavailable', 'This gateway instance is stopping; another one finishes the job.', { retryAfterSec: 5 });
const tooMany = () => new GatewayError('unavailable', 'Too many folder operations are under way on this instance; try again shortly.', { retryAfterSec: 5 });
const copyMismatch = (key: string) =>
  new GatewayError('bad_gateway', `S3 answered a copy of ${JSON.stringify(key)} that does not match its source; nothing was deleted.`);

/** A single-part ETag is the content's MD5, which a copy keeps; a multipart one (`…-n`) is not. */
const isPlainEtag = (etag: string) => !unquoted(etag).includes('-');

export class FolderJobs {
  /** This process, as an owner of jobs. */
  readonly instance = randomBytes(9).toString('base64url');
  /** At most one attempt per job on this instance: starting it, resuming it or taking it over. */
  private readonly running = new Map<string, Promise<void>>();
  /** Requests waiting for a copy of themselves under way on this instance (for tests). */
  copiesWaiting = 0;
  private readonly seen = new LRUCache<string, FolderJob[]>({ max: 10_000, ttl: VIEW_REFRESH_MS });
  private keepFolder: FolderKeeper = async () => undefined;
  private stopping = false;

  constructor(
    private readonly store: SessionStore,
    private readonly locks: NamespaceLocks,
    private readonly cache: MetadataCache,
    private readonly logger: Logger,
    private readonly opts: FolderJobOptions,
    private readonly bucketOf: JobBucketResolver = async () => undefined,
  ) {}

  /** The file system keeps folders; it hands over how once it exists. */
  useFolderKeeper(keeper: FolderKeeper): void {
    this.keepFolder = keeper;
  }

  static idOf(r: { op: string; scope: string; from: string; to?: string | undefined }): string {
    return hash('sha256', `${r.op}\0${r.scope}\0${r.from}\0${r.to ?? ''}`, 'base64url');
  }

  // ---------------------------------------------------------------- what is under way

  /** The jobs under way in a bucket: read afresh, or as seen less than VIEW_REFRESH_MS ago. */
  async activeIn(scope: string, fresh = false): Promise<FolderJob[]> {
    const known = fresh ? undefined : this.seen.get(scope);
    if (known) return known;
    const ids = await this.store.setMembers(keys.inScope(scope));
    let jobs: FolderJob[] = [];
    if (ids.length > 0) {
      const records = await this.store.getMany(ids.map(keys.record));
      jobs = records.flatMap((r) => (r === null ? [] : [JSON.parse(r) as FolderJob])).filter((j) => j.scope === scope);
      // An id whose record is gone is a job that ended without being able to tidy its index.
      const stale = ids.filter((_, i) => records[i] === null);
      if (stale.length > 0 && fresh) await Promise.all(stale.map((id) => this.store.removeFromSet(keys.inScope(scope), id)));
    }
    this.seen.set(scope, jobs);
    return jobs;
  }

  /** The bucket as it looks with the jobs under way done. */
  async view(bucket: BucketStore): Promise<BucketStore> {
    const jobs = await this.activeIn(bucket.scope);
    return jobs.length === 0 ? bucket : new JobViewBucket(bucket, jobs.map(spanOf));
  }

  /** A view taken earlier shows the jobs under way now (as last read: `jobTouching` has just read them afresh). */
  async refreshView(bucket: BucketStore): Promise<void> {
    if (bucket instanceof JobViewBucket) bucket.showJobs((await this.activeIn(bucket.scope)).map(spanOf));
  }

  /**
   * For a write holding its names (full keys): a recorded job it touches. A job's owner holds these
   * names itself, so a write finds one only between an owner's end and the takeover (or a failed attempt
   * and its retry).
   */
  async jobTouching(scope: string, names: string[]): Promise<FolderJob | undefined> {
    return (await this.activeIn(scope, true)).find((j) => overlaps(j, names));
  }

  /**
   * A write found `job` in its way: it takes the job up here (nobody else works on it, or its locks would
   * not have been free) and waits for it to end, until `deadline` (then 503).
   */
  async waitFor(job: FolderJob, bucket: BucketStore, deadline: number): Promise<void> {
    if (!this.running.has(job.id) && this.running.size < this.opts.maxRunning) this.resume(job, bucket);
    await this.settle(job.id, deadline, 'ignore');
    if ((await this.store.get(keys.record(job.id))) !== null) throw waitForJob();
  }

  // ---------------------------------------------------------------- starting and joining

  /**
   * Runs the request as a job, or joins the same job under way; answers once it is done or `waitMs` has
   * passed (with the folder's time). A job that touches the same folders is a conflict (409).
   */
  async perform(req: FolderJobRequest): Promise<{ modified: number }> {
    const deadline = Date.now() + this.opts.waitMs;
    const scope = req.bucket.scope;
    const id = FolderJobs.idOf({ ...req, scope });
    const names = spans(req);
    for (;;) {
      const under = await this.activeIn(scope, true);
      const same = under.find((j) => j.id === id);
      if (same) {
        // Joined. A job nobody works on (it failed, or its owner stopped) is taken up again by its repeat.
        if (!this.running.has(id) && this.running.size < this.opts.maxRunning) this.resume(same, req.bucket);
        await this.settle(id, deadline);
        return { modified: same.modified };
      }
      if (under.some((j) => overlaps(j, names))) throw conflict();
      const earlier = this.running.get(id);
      if (earlier === undefined) break;
      // A copy of this request is already under way here, not yet recorded (it waits for its names): one
      // attempt per job and instance, so this one waits for it, then is looked at afresh (joins the job, or
      // is checked again once it is done). A second attempt would take the first's place in `running`, and
      // the first would answer with the second's outcome.
      if (Date.now() >= deadline) throw waitForJob();
      this.copiesWaiting++;
      try {
        await Promise.race([earlier.catch(() => undefined), delay(deadline - Date.now(), undefined, { ref: false })]);
      } finally {
        this.copiesWaiting--;
      }
    }
    if (this.running.size >= this.opts.maxRunning) throw tooMany();

    let accept!: (modified: number) => void;
    const accepted = new Promise<number>((resolve) => (accept = resolve));
    const attempt = this.locks.run(scope, names, async (lease) => {
      // Looked at again holding the names: a job may have started (or stopped) meanwhile.
      const now = await this.activeIn(scope, true);
      let job = now.find((j) => j.id === id);
      if (!job) {
        if (now.some((j) => overlaps(j, names))) throw conflict();
        const modified = await req.check();
        const at = Date.now();
        job = {
          id,
          op: req.op,
          scope,
          principal: req.principal,
          from: req.from,
          to: req.to,
          keep: req.keep,
          modified,
          owner: this.instance,
          beat: at,
          started: at,
          done: 0,
          failures: 0,
        };
        await this.save(job);
      }
      accept(job.modified);
      await this.execute(job, req.bucket, lease);
    });
    this.track(id, attempt);
    const modified = await Promise.race([accepted, attempt.then(() => accepted)]);
    await this.settle(id, deadline);
    return { modified };
  }

  /**
   * Waits for the job until `deadline`: for its attempt here (whose failure is the caller's, unless
   * ignored), then for its record to go (its attempt elsewhere, or here if this one could not start).
   */
  private async settle(id: string, deadline: number, failures: 'throw' | 'ignore' = 'throw'): Promise<void> {
    const local = this.running.get(id);
    if (local) {
      const left = deadline - Date.now();
      const attempt = failures === 'throw' ? local : local.catch(() => undefined);
      if (left > 0) await Promise.race([attempt, delay(left, undefined, { ref: false })]);
    }
    while (Date.now() < deadline) {
      if ((await this.store.get(keys.record(id))) === null) return;
      await delay(Math.min(250, Math.max(0, deadline - Date.now())), undefined, { ref: false });
    }
  }

  private track(id: string, attempt: Promise<void>): void {
    const tracked = attempt.finally(() => {
      if (this.running.get(id) === tracked) this.running.delete(id);
    });
    this.running.set(id, tracked);
    // A failure after the answer is logged here and retried by the takeover.
    tracked.catch((err: unknown) => {
      if (!(err instanceof GatewayError && (err.kind === 'conflict' || err.kind === 'not_found'))) {
        this.logger.warn('folder job stopped; it will be retried', { job: id, error: err instanceof Error ? err.message : String(err) });
      }
    });
  }

  // ---------------------------------------------------------------- doing

  private async save(job: FolderJob): Promise<void> {
    await this.store.set(keys.record(job.id), JSON.stringify(job), RECORD_TTL_MS);
    await Promise.all([this.store.addToSet(keys.inScope(job.scope), job.id, RECORD_TTL_MS), this.store.addToSet(keys.all, job.id, RECORD_TTL_MS)]);
    this.seen.delete(job.scope);
  }

  private async forget(job: FolderJob): Promise<void> {
    await this.store.delete(keys.record(job.id));
    await Promise.all([this.store.removeFromSet(keys.inScope(job.scope), job.id), this.store.removeFromSet(keys.all, job.id)]);
    this.seen.delete(job.scope);
  }

  private async execute(job: FolderJob, bucket: BucketStore, lease: Lease): Promise<void> {
    // Taken over (or retried): what the last owner copied before its cursor moved is looked at, not copied again.
    let resuming = job.owner !== this.instance || job.cursor !== undefined || job.failures > 0;
    job.owner = this.instance;
    job.beat = Date.now();
    await this.save(job);
    const beat = setInterval(() => {
      job.beat = Date.now();
      this.save(job).catch(() => undefined); // a missed beat is only a later one
    }, BEAT_MS);
    beat.unref();
    try {
      if (job.to !== undefined) await this.cache.putFolder(job.scope, job.to, job.modified);
      for (;;) {
        if (this.stopping) throw stoppingNow();
        const page = await bucket.list(job.from, { startAfter: job.cursor, maxKeys: PAGE });
        if (page.objects.length === 0) break;
        lease.assertHeld();
        if (job.to !== undefined) await this.copyPage(job, bucket, page.objects, resuming, lease);
        lease.assertHeld();
        await bucket.deleteMany(page.objects.map((o) => o.key));
        job.cursor = page.objects[page.objects.length - 1]!.key;
        job.done += page.objects.length;
        job.beat = Date.now();
        await this.save(job);
        resuming = false;
        if (page.nextToken === undefined) break;
      }
      const legacy = job.from.slice(0, -1) + LEGACY_FOLDER_SUFFIX;
      lease.assertHeld();
      // A folder that had no key of its own (empty, or only a Hadoop-style marker) still arrives.
      if (job.to !== undefined && !(await bucket.hasAny(job.to))) {
        await bucket.putEmpty(job.to, { contentType: 'application/x-directory', metadata: { 'gw-modified': String(job.modified) } });
      }
      if (await bucket.head(legacy)) await bucket.deleteOne(legacy);
      await Promise.all([
        this.cache.forgetFolder(job.scope, job.from),
        job.to === undefined ? undefined : this.cache.putFolder(job.scope, job.to, job.modified),
      ]);
      if (job.keep !== undefined) await this.keepFolder(bucket, job.keep, lease);
      await this.forget(job);
    } catch (err) {
      if (this.stopping) {
        // Handed over: any instance may take it from its cursor at once.
        job.beat = 0;
      } else {
        job.failures++;
        job.lastError = err instanceof Error ? err.message : String(err);
      }
      await this.save(job).catch(() => undefined);
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Copies one page and checks each copy (same size, and the same ETag where the ETag is the content's
   * MD5; S3 copied exactly the listed version, as the copy is conditional on it). After a failure no
   * further copy starts, and those under way are waited for: nothing writes once the names are let go.
   */
  private async copyPage(job: FolderJob, bucket: BucketStore, objects: ObjectSummary[], resuming: boolean, lease: Lease): Promise<void> {
    const to = job.to!;
    const known = await this.cache.getMany(job.scope, objects);
    const limit = pLimit(this.opts.copyConcurrency);
    let failure: { error: unknown } | undefined;
    await Promise.allSettled(
      objects.map((o, i) =>
        limit(async () => {
          if (failure || this.stopping) return;
          try {
            const dest = to + o.key.slice(job.from.length);
            if (resuming) {
              const there = await bucket.head(dest);
              if (there && there.size === o.size && isPlainEtag(o.etag) && unquoted(there.etag) === unquoted(o.etag)) return;
            }
            lease.assertHeld();
            const copied = await bucket.copy(o, dest);
            let etag = copied.etag;
            if (etag === undefined || !isPlainEtag(o.etag)) {
              const there = await bucket.head(dest);
              if (!there || there.size !== o.size) throw copyMismatch(o.key);
              etag = there.etag;
            } else if (unquoted(etag) !== unquoted(o.etag)) {
              throw copyMismatch(o.key);
            }
            const facts = known[i];
            if (facts) await this.cache.put(job.scope, { key: dest, etag, size: o.size }, facts);
          } catch (err) {
            failure ??= { error: err };
          }
        }),
      ),
    );
    if (failure) throw failure.error;
    if (this.stopping) throw stoppingNow();
  }

  // ---------------------------------------------------------------- taking over

  /** Looks for jobs nobody works on, now and then every `takeoverEveryMs`, and finishes them. */
  startTakeover(): { stop(): void } {
    let stopped = false;
    const tick = async () => {
      try {
        await this.takeOver();
      } catch (err) {
        this.logger.warn('could not look for folder jobs to take over', { error: err instanceof Error ? err.message : String(err) });
      }
    };
    void tick();
    const timer = setInterval(() => {
      if (!stopped) void tick();
    }, this.opts.takeoverEveryMs);
    timer.unref();
    return {
      stop: () => {
        stopped = true;
        clearInterval(timer);
      },
    };
  }

  /** One look: each silent job whose locks are free is run here from its cursor. */
  async takeOver(): Promise<number> {
    let taken = 0;
    for (const id of await this.store.setMembers(keys.all)) {
      if (this.running.has(id)) continue;
      if (this.running.size >= this.opts.maxRunning) break;
      const raw = await this.store.get(keys.record(id));
      if (raw === null) {
        await this.store.removeFromSet(keys.all, id);
        continue;
      }
      const job = JSON.parse(raw) as FolderJob;
      const backoff = job.failures === 0 ? SILENT_MS : Math.min(SILENT_MS * 2 ** Math.min(job.failures, 5), 5 * 60_000);
      if (Date.now() - job.beat < backoff) continue;
      const bucket = await this.bucketOf(job.principal, job.scope);
      if (!bucket) {
        this.logger.warn('cannot take over a folder job: its bucket is not reachable with what the gateway knows', { scope: job.scope });
        continue;
      }
      this.resume(job, bucket);
      taken++;
    }
    return taken;
  }

  /** Runs a recorded job here from its cursor, if its locks are free now (else its owner is at work). */
  private resume(job: FolderJob, bucket: BucketStore): void {
    const attempt = this.locks
      .run(
        job.scope,
        spans(job),
        async (lease) => {
          const now = await this.store.get(keys.record(job.id));
          if (now === null) return;
          const current = JSON.parse(now) as FolderJob;
          this.logger.info('resuming a folder job', { op: current.op, from: current.from, to: current.to, done: current.done, owner: current.owner });
          await this.execute(current, bucket, lease);
        },
        0,
      )
      .catch((err: unknown) => {
        // Its locks are held: its owner is at work after all, or they have not ended yet.
        if (!isLockTimeout(err)) throw err;
      });
    this.track(job.id, attempt);
  }

  /** Waits for this instance's jobs (for tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /** For a clean stop: each job ends once its copies under way are done, its locks let go, its record left for another instance. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }
}
