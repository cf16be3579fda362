import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import type sharpFunction from 'sharp';
import type { Account } from '../auth/accounts.js';
import { GatewayError } from '../../errors.js';
import { decodeId, isFolderKey } from '../ids.js';
import { contentTypeOf } from './content-type.js';

export interface ThumbnailOptions {
  /** Longest side of a thumbnail, in pixels. */
  size: number;
  /** Images larger than this are not thumbnailed (403). */
  maxSourceBytes: number;
  /** Memory the thumbnail cache may hold, in bytes. */
  cacheBytes: number;
  /** Renders at once in this process; each may hold its source and its pixels. */
  concurrency: number;
  /** Renders that may wait for their turn; beyond them, 503 with Retry-After. */
  queueSize: number;
}

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif']);
const notAvailable = (why: string) => new GatewayError('forbidden', `Thumbnail not available: ${why}.`);

/**
 * The first bytes of each format served. libvips picks its decoder from the bytes, not from the name, so
 * an image-named file holding SVG, PDF or anything else must not reach it.
 */
const SIGNATURES: Array<(b: Buffer) => boolean> = [
  (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  (b) => /^GIF8[79]a/.test(b.toString('latin1', 0, 6)),
  (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
  (b) => ['II*\0', 'MM\0*'].includes(b.toString('latin1', 0, 4)),
  (b) => b.toString('latin1', 4, 8) === 'ftyp' && ['avif', 'avis'].includes(b.toString('latin1', 8, 12)),
];
const SNIFF_BYTES = 12;

/** Passes the bytes on once their start is one of the served formats; fails otherwise. */
class FormatCheck extends Transform {
  private head: Buffer | undefined = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (!this.head) return done(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < SNIFF_BYTES) return done();
    this.release(done);
  }

  override _flush(done: TransformCallback): void {
    if (this.head) this.release(done);
    else done();
  }

  private release(done: TransformCallback) {
    const head = this.head!;
    this.head = undefined;
    if (!SIGNATURES.some((matches) => matches(head))) return done(notAvailable('the file is not an image of a format thumbnails are made of'));
    done(null, head);
  }
}

/** Decoders of formats we never serve, blocked in libvips in case anything gets past the check above. */
const BLOCKED_LOADERS = [
  'VipsForeignLoadSvg',
  'VipsForeignLoadPdf',
  'VipsForeignLoadMagick',
  'VipsForeignLoadOpenslide',
  'VipsForeignLoadJxl',
  'VipsForeignLoadJp2k',
  'VipsForeignLoadFits',
  'VipsForeignLoadMat',
  'VipsForeignLoadMatrix',
  'VipsForeignLoadCsv',
  'VipsForeignLoadPpm',
  'VipsForeignLoadRad',
  'VipsForeignLoadAnalyze',
  'VipsForeignLoadNifti',
  'VipsForeignLoadVips',
];

// Loaded on first use: libvips adds tens of MiB to a process that may never make a thumbnail.
let sharpModule: Promise<{ default: typeof sharpFunction }> | undefined;
const loadSharp = () =>
  (sharpModule ??= import('sharp').then((m) => {
    m.default.block({ operation: BLOCKED_LOADERS });
    return m;
  }));

export interface Thumbnail {
  body: Buffer;
  contentType: 'image/jpeg' | 'image/png';
  etag: string;
}

/**
 * Small previews of images, made with sharp, cached by object version within a byte budget. Renders are
 * bounded in all (a few at once, a bounded queue, 503 beyond), one version of one image is rendered once
 * at a time (late callers wait for that render), and a failure is remembered briefly.
 */
export class ThumbnailService {
  private readonly cache: LRUCache<string, Thumbnail>;
  private readonly failures = new LRUCache<string, GatewayError>({ max: 10_000, ttl: 30_000 });
  private readonly inFlight = new Map<string, Promise<Thumbnail>>();
  private readonly renders: ReturnType<typeof pLimit>;

  constructor(private readonly opts: ThumbnailOptions) {
    this.cache = new LRUCache<string, Thumbnail>({ maxSize: Math.max(1, opts.cacheBytes), sizeCalculation: (t) => Math.max(1, t.body.length) });
    this.renders = pLimit(opts.concurrency);
  }

  async render(account: Account, id: string): Promise<Thumbnail> {
    const rel = decodeId(id);
    if (isFolderKey(rel)) throw notAvailable('folders have none');
    const key = account.root + rel;
    const head = await account.bucket.head(key);
    if (!head) throw new GatewayError('not_found', 'No such file.');
    const type = IMAGE_TYPES.has(head.contentType ?? '') ? head.contentType! : contentTypeOf(key);
    if (!IMAGE_TYPES.has(type)) throw notAvailable('not an image');
    if (head.size > this.opts.maxSourceBytes) throw notAvailable(`the image is larger than ${this.opts.maxSourceBytes} bytes`);
    const version = `${account.bucket.scope}\0${key}\0${head.etag}\0${head.size}\0${this.opts.size}`;
    const cached = this.cache.get(version);
    if (cached) return cached;
    const failed = this.failures.get(version);
    if (failed) throw failed;
    const running = this.inFlight.get(version);
    if (running) return running;

    if (this.renders.pendingCount >= this.opts.queueSize) {
      throw new GatewayError('unavailable', 'Too many thumbnails are being made; try again shortly.', { retryAfterSec: 1 });
    }
    const render = this.renders(() => this.make(account, key, head.etag, type === 'image/jpeg'));
    this.inFlight.set(version, render);
    try {
      const thumbnail = await render;
      this.cache.set(version, thumbnail);
      return thumbnail;
    } catch (err) {
      if (err instanceof GatewayError && err.kind === 'forbidden') this.failures.set(version, err);
      throw err;
    } finally {
      this.inFlight.delete(version);
    }
  }

  private async make(account: Account, key: string, etag: string, jpeg: boolean): Promise<Thumbnail> {
    const { default: sharp } = await loadSharp();
    const object = await account.bucket.get(key);
    if (!object) throw new GatewayError('not_found', 'No such file.');
    const resize = sharp({ limitInputPixels: 100_000_000, failOn: 'error' })
      .rotate()
      .resize(this.opts.size, this.opts.size, { fit: 'inside', withoutEnlargement: true });
    const output = jpeg ? resize.jpeg({ quality: 80 }) : resize.png();
    // pipeline passes a failure of S3 or of the format check on (a bare pipe would leave sharp waiting).
    const streamed = new Promise<never>((_, reject) =>
      pipeline(object.body, new FormatCheck(), output, (err) => {
        if (err) reject(err);
      }),
    );
    let body: Buffer;
    try {
      body = await Promise.race([output.toBuffer(), streamed]);
    } catch (err) {
      object.body.destroy();
      output.destroy();
      if (err instanceof GatewayError) throw err;
      throw notAvailable('the image could not be read');
    } finally {
      streamed.catch(() => undefined);
    }
    return { body, contentType: jpeg ? 'image/jpeg' : 'image/png', etag: `"t-${etag.replaceAll('"', '')}-${this.opts.size}"` };
  }
}
