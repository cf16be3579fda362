import type { Readable } from 'node:stream';
import {
  anyUnder,
  pagesUnder,
  type BucketStore,
  type ListOptions,
  type ListPage,
  type NewObject,
  type ObjectHead,
  type ObjectStream,
  type ObjectSummary,
  type StagedObject,
} from '../../storage/bucket-store.js';
import { LEGACY_FOLDER_SUFFIX } from '../listing.js';
import { parentOf } from '../ids.js';

/**
 * How a bucket looks while folder jobs run in it: as if each were done. A job's source is gone (nothing
 * under it is listed or found, and its parent lists it no more); its target is whole: what is not copied
 * yet is read from the source key, and the target's parent lists it.
 *
 * Reading the source before the target is what makes this exact at any moment of a job: a job deletes a
 * source key only once its copy is in place, so a key that the source no longer shows is in the target
 * when the target is read after it. Listings that merge the two are paged by key ("after this one"),
 * which both sides understand, instead of by S3's continuation tokens, which only one of them would.
 */

/** What the view needs to know of a job: the source folder, and the target of a move (full keys ending in '/'). */
export interface JobSpan {
  from: string;
  to?: string | undefined;
  /** The source's parent, which stays a folder when the source was its last child. */
  keep?: string | undefined;
}

/** A page token of a merged listing: the last key (relative to the listed prefix) already listed. */
const AFTER = '\u0001after:';

export const isViewCursor = (token: string | undefined): token is string => token !== undefined && token.startsWith(AFTER);

/** The listing options that continue after `token`, whichever kind it is, for a listing of `prefix`. */
export function continueFrom(prefix: string, token: string | undefined): Pick<ListOptions, 'token' | 'startAfter'> {
  if (token === undefined) return {};
  return isViewCursor(token) ? { startAfter: prefix + token.slice(AFTER.length) } : { token };
}

const compareKeys = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

interface Item {
  key: string;
  object?: ObjectSummary | undefined;
}

interface Side {
  items: Item[];
  /** The last key the side covered, when it has more. */
  more: string | undefined;
}

const itemsOf = (page: ListPage): Item[] =>
  [...page.objects.map((o) => ({ key: o.key, object: o })), ...page.prefixes.map((p) => ({ key: p }))].sort((a, b) => compareKeys(a.key, b.key));

const lastKey = (items: Item[]) => items[items.length - 1]?.key;

export class JobViewBucket implements BucketStore {
  constructor(
    readonly raw: BucketStore,
    private jobs: JobSpan[],
  ) {}

  /**
   * Shows these jobs from now on. A write takes a view when it comes and may then wait for its names; the
   * jobs of then may have ended since (a kept parent deleted after, a source made anew), so holding its
   * names it looks at the jobs under way now (file-system.ts, `holding`).
   */
  showJobs(jobs: JobSpan[]): void {
    this.jobs = jobs;
  }

  get name() {
    return this.raw.name;
  }
  get scope() {
    return this.raw.scope;
  }
  get server() {
    return this.raw.server;
  }
  get profile() {
    return this.raw.profile;
  }

  /** Inside a job's source (or its Hadoop-style marker): gone. */
  private hidden(key: string): boolean {
    return this.jobs.some((j) => key.startsWith(j.from) || key === j.from.slice(0, -1) + LEGACY_FOLDER_SUFFIX);
  }

  /** The source key a key inside a move's target is read from until it is copied. */
  private sourceOf(key: string): string | undefined {
    const j = this.jobs.find((job) => job.to !== undefined && key.startsWith(job.to));
    return j ? j.from + key.slice(j.to!.length) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    if (this.hidden(prefix)) return { objects: [], prefixes: [], nextToken: undefined };
    const source = this.sourceOf(prefix);
    const folder = opts.delimiter === '/';
    const appearing = folder ? this.jobs.filter((j) => j.to !== undefined && parentOf(j.to) === prefix).map((j) => j.to!) : [];
    const disappearing = this.jobs.some((j) => parentOf(j.from) === prefix);
    if (source === undefined && appearing.length === 0 && !disappearing) return this.raw.list(prefix, opts);
    if (opts.token !== undefined && !isViewCursor(opts.token)) {
      // A page that began before the job: continue it as S3 would, less what the job took away.
      const page = await this.raw.list(prefix, opts);
      return { ...page, objects: page.objects.filter((o) => !this.hidden(o.key)), prefixes: page.prefixes.filter((p) => !this.hidden(p)) };
    }
    const after = continueFrom(prefix, opts.token).startAfter ?? opts.startAfter;
    // One more than asked after a folder: S3 lists a folder again when asked for what follows it.
    const maxKeys = after === undefined || opts.maxKeys === undefined ? opts.maxKeys : opts.maxKeys + 1;
    const ask = { delimiter: opts.delimiter, maxKeys, startAfter: after };
    const sides: Side[] = [];
    // The source first (see above), then the target.
    if (source !== undefined) {
      const page = await this.raw.list(source, { ...ask, startAfter: after === undefined ? undefined : source + after.slice(prefix.length) });
      const items = itemsOf(page).map((i) => {
        const key = prefix + i.key.slice(source.length);
        return { key, object: i.object && { ...i.object, key } };
      });
      sides.push({ items, more: page.nextToken === undefined ? undefined : lastKey(items) });
    }
    const own = await this.raw.list(prefix, ask);
    const ownItems = itemsOf(own);
    sides.push({ items: ownItems.filter((i) => !this.hidden(i.key)), more: own.nextToken === undefined ? undefined : lastKey(ownItems) });
    sides.push({ items: appearing.map((key) => ({ key })), more: undefined });
    const page = this.merge(prefix, sides, after);
    if (after === undefined && this.jobs.some((j) => j.keep === prefix) && !page.objects.some((o) => o.key === prefix)) {
      // The source's parent is kept (the job writes its marker at the end): it exists, with whatever else is in it.
      page.objects.unshift({ key: prefix, size: 0, etag: '""', lastModified: new Date(0) });
    }
    return page;
  }

  /** Every item once (the target's copy wins over its source), in key order, up to where every side is known. */
  private merge(prefix: string, sides: Side[], after: string | undefined): ListPage {
    const bound = sides
      .map((s) => s.more)
      .filter((k): k is string => k !== undefined)
      .sort(compareKeys)[0];
    const byKey = new Map<string, Item>();
    for (const side of sides) {
      for (const i of side.items) {
        if (after !== undefined && compareKeys(i.key, after) <= 0) continue;
        if (bound !== undefined && compareKeys(i.key, bound) > 0) continue;
        byKey.set(i.key, i);
      }
    }
    const items = [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
    return {
      objects: items.flatMap((i) => (i.object ? [i.object] : [])),
      prefixes: items.flatMap((i) => (i.object ? [] : [i.key])),
      nextToken: bound === undefined ? undefined : AFTER + bound.slice(prefix.length),
    };
  }

  listAll(prefix: string): AsyncGenerator<ObjectSummary[]> {
    return pagesUnder(this, prefix);
  }

  hasAny(prefix: string): Promise<boolean> {
    return anyUnder(this, prefix);
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    if (this.hidden(key)) return undefined;
    const source = this.sourceOf(key);
    const found = source === undefined ? undefined : await this.raw.head(source);
    return found ? { ...found, key } : this.raw.head(key);
  }

  async get(key: string, opts?: { range?: string | undefined }): Promise<ObjectStream | undefined> {
    if (this.hidden(key)) return undefined;
    const source = this.sourceOf(key);
    return (source === undefined ? undefined : await this.raw.get(source, opts)) ?? this.raw.get(key, opts);
  }

  async presignGet(key: string, ttlSec: number, response?: { contentDisposition?: string }): Promise<string> {
    const source = this.sourceOf(key);
    const from = source !== undefined && (await this.raw.head(source)) ? source : key;
    return this.raw.presignGet(from, ttlSec, response);
  }

  // Writes go to the bucket as they are: they wait for the jobs whose folders they touch (namespace locks).
  probe(): Promise<void> {
    return this.raw.probe();
  }
  putEmpty(key: string, opts: { contentType: string; metadata: Record<string, string> }) {
    return this.raw.putEmpty(key, opts);
  }
  copy(from: ObjectSummary, toKey: string, fromBucket?: string) {
    return this.raw.copy(from, toKey, fromBucket);
  }
  replaceMetadata(head: ObjectHead, metadata: Record<string, string>) {
    return this.raw.replaceMetadata(head, metadata);
  }
  deleteOne(key: string) {
    return this.raw.deleteOne(key);
  }
  deleteMany(keys: string[]) {
    return this.raw.deleteMany(keys);
  }
  stage(
    key: string,
    body: Readable,
    object: NewObject,
    transfer: { size: number; partSize: number; queueSize: number; onMultipart?: (uploadId: string) => Promise<void> },
  ): Promise<StagedObject> {
    return this.raw.stage(key, body, object, transfer);
  }
  createMultipart(key: string, object: NewObject) {
    return this.raw.createMultipart(key, object);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Readable | Buffer, length: number) {
    return this.raw.uploadPart(key, uploadId, partNumber, body, length);
  }
  multipartObject(key: string, uploadId: string, size: number, parts: Array<{ partNumber: number; etag: string }>, metadata: Record<string, string>) {
    return this.raw.multipartObject(key, uploadId, size, parts, metadata);
  }
  abortMultipart(key: string, uploadId: string) {
    return this.raw.abortMultipart(key, uploadId);
  }
}
