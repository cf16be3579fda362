import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { BucketCredentials, BucketsByCredentials } from '../bucket-store.js';
import { S3Bucket, type BucketOptions } from './bucket.js';
import { createS3Client, type S3ClientOptions } from './client.js';

export type S3Credentials = BucketCredentials;

/**
 * S3 clients for people who sign in with their own keys: one per bucket and key pair, reused across
 * requests (each keeps its connections alive), the least recently used closed beyond `max`.
 */
export class BucketPool implements BucketsByCredentials {
  private readonly buckets: LRUCache<string, S3Bucket>;

  constructor(
    private readonly client: Omit<S3ClientOptions, 'accessKeyId' | 'secretAccessKey'>,
    private readonly options: BucketOptions,
    max: number,
  ) {
    this.buckets = new LRUCache<string, S3Bucket>({ max, dispose: (bucket) => bucket.destroy() });
  }

  private static id(bucket: string, c: S3Credentials): string {
    return createHash('sha256').update(`${bucket}\0${c.accessKeyId}\0${c.secretAccessKey}`).digest('base64url');
  }

  get(bucket: string, credentials: S3Credentials): S3Bucket {
    const id = BucketPool.id(bucket, credentials);
    let b = this.buckets.get(id);
    if (!b) {
      b = new S3Bucket(createS3Client({ ...this.client, ...credentials }), bucket, this.options);
      this.buckets.set(id, b);
    }
    return b;
  }

  /** Closes the client of credentials that turned out wrong, so they do not take a place. */
  forget(bucket: string, credentials: S3Credentials): void {
    this.buckets.delete(BucketPool.id(bucket, credentials));
  }

  get size(): number {
    return this.buckets.size;
  }

  close(): void {
    this.buckets.clear();
  }
}
