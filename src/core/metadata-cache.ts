import { hash } from 'node:crypto';
import { storeKeys } from './store-keys.js';
import type { SessionStore } from '../storage/session-store/types.js';

/** What listings cannot tell: the client's modified time and the content's sha256, when known. */
export interface ObjectFacts {
  modified: number;
  sha256: string | undefined;
}

export interface ObjectVersion {
  key: string;
  etag: string;
  size: number;
}

/**
 * Facts about object versions, in the session store so every instance shares them. An entry is keyed by
 * the bucket, full key, ETag and size: once an object changes, its old entry can never be found for it again.
 */
export class MetadataCache {
  constructor(
    private readonly store: SessionStore,
    private readonly ttlMs: number,
  ) {}

  private static objectKey(bucket: string, v: ObjectVersion): string {
    return storeKeys.objectFacts(hash('sha256', `${bucket}\0${v.key}\0${v.etag}\0${v.size}`, 'base64url'));
  }

  private static folderKey(bucket: string, key: string): string {
    return storeKeys.folderTime(hash('sha256', `${bucket}\0${key}`, 'base64url'));
  }

  async getMany(bucket: string, versions: ObjectVersion[]): Promise<Array<ObjectFacts | undefined>> {
    if (versions.length === 0) return [];
    const raw = await this.store.getMany(versions.map((v) => MetadataCache.objectKey(bucket, v)));
    return raw.map((r) => (r ? (JSON.parse(r) as ObjectFacts) : undefined));
  }

  async put(bucket: string, v: ObjectVersion, facts: ObjectFacts): Promise<void> {
    if (!v.etag) return; // without an ETag the entry could be mistaken for another version
    await this.store.set(MetadataCache.objectKey(bucket, v), JSON.stringify(facts), this.ttlMs);
  }

  /** Folders' modified times (the marker's, or the stable value for folders without one). */
  async getFolders(bucket: string, keys: string[]): Promise<Array<number | undefined>> {
    if (keys.length === 0) return [];
    const raw = await this.store.getMany(keys.map((k) => MetadataCache.folderKey(bucket, k)));
    return raw.map((r) => (r === null ? undefined : Number(r)));
  }

  async putFolder(bucket: string, key: string, modified: number): Promise<void> {
    await this.store.set(MetadataCache.folderKey(bucket, key), String(modified), this.ttlMs);
  }

  async forgetFolder(bucket: string, key: string): Promise<void> {
    await this.store.delete(MetadataCache.folderKey(bucket, key));
  }
}
