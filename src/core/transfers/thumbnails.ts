import { LRUCache } from 'lru-cache';
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
}

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif']);
const notAvailable = (why: string) => new GatewayError('forbidden', `Thumbnail not available: ${why}.`);

export interface Thumbnail {
  body: Buffer;
  contentType: 'image/jpeg' | 'image/png';
  etag: string;
}

/** Small previews of images, made with sharp, cached by object version within a byte budget. */
export class ThumbnailService {
  private readonly cache: LRUCache<string, Thumbnail>;

  constructor(private readonly opts: ThumbnailOptions) {
    this.cache = new LRUCache<string, Thumbnail>({ maxSize: Math.max(1, opts.cacheBytes), sizeCalculation: (t) => Math.max(1, t.body.length) });
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
    const cacheKey = `${account.bucket.name}\0${key}\0${head.etag}\0${head.size}\0${this.opts.size}`;
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;

    const object = await account.bucket.get(key);
    if (!object) throw new GatewayError('not_found', 'No such file.');
    const keepAlpha = type !== 'image/jpeg';
    // Loaded on first use: libvips adds tens of MiB to a process that may never make a thumbnail.
    const { default: sharp } = await import('sharp');
    const resize = sharp({ limitInputPixels: 100_000_000, failOn: 'error' })
      .rotate()
      .resize(this.opts.size, this.opts.size, { fit: 'inside', withoutEnlargement: true });
    const output = keepAlpha ? resize.png() : resize.jpeg({ quality: 80 });
    object.body.pipe(output);
    let body: Buffer;
    try {
      body = await output.toBuffer();
    } catch {
      object.body.destroy();
      throw notAvailable('the image could not be read');
    }
    const thumbnail: Thumbnail = { body, contentType: keepAlpha ? 'image/png' : 'image/jpeg', etag: `"t-${head.etag.replaceAll('"', '')}-${this.opts.size}"` };
    this.cache.set(cacheKey, thumbnail);
    return thumbnail;
  }
}
