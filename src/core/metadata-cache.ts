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

/** The hash tag of the entries listed in one folder (see storeKeys): 96 bits, enough to spread folders over slots. */
function folderTag(bucket: string, parentKey: string): string {
  return hash('sha256', `${bucket}\0${parentKey}`, 'base64url').slice(0, 16);
}

function objectKey(bucket: string, v: ObjectVersion, tag = folderTag(bucket, parentOf(v.key))): string {
  return storeKeys.objectFacts(tag, hash('sha256', `${bucket}\0${v.key}\0${v.etag}\0${v.size}`, 'base64url'));
}

function folderKey(bucket: string, key: string, tag = folderTag(bucket, parentOf(key))): string {
  return storeKeys.folderTime(tag, hash('sha256', `${bucket}\0${key}`, 'base64url'));
}

/** Store keys of `items`, each tagged by its parent folder; a page's items share a parent, so its tag is made once. */
function taggedKeys<T>(bucket: string, items: T[], keyOf: (item: T) => string, storeKey: (bucket: string, item: T, tag: string) => string): string[] {
  let parent: string | undefined;
  let tag = '';
  return items.map((item) => {
    const p = parentOf(keyOf(item));
    if (p !== parent) {
      parent = p;
      tag = folderTag(bucket, p);
    }
    return storeKey(bucket, item, tag);
  });
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

  async getMany(bucket: string, versions: ObjectVersion[]): Promise<Array<ObjectFacts | undefined>> {
    if (versions.length === 0) return [];
    const raw = await this.store.getMany(taggedKeys(bucket, versions, (v) => v.key, objectKey));
    return raw.map((r) => (r ? (JSON.parse(r) as ObjectFacts) : undefined));
  }

  async put(bucket: string, v: ObjectVersion, facts: ObjectFacts): Promise<void> {
    if (!v.etag) return; // without an ETag the entry could be mistaken for another version
    await this.store.set(objectKey(bucket, v), JSON.stringify(facts), this.ttlMs);
  }

  /** Folders' modified times (the marker's, or the stable value for folders without one). */
  async getFolders(bucket: string, keys: string[]): Promise<Array<number | undefined>> {
    if (keys.length === 0) return [];
    const raw = await this.store.getMany(taggedKeys(bucket, keys, (k) => k, folderKey));
    return raw.map((r) => (r === null ? undefined : Number(r)));
  }

  async putFolder(bucket: string, key: string, modified: number): Promise<void> {
    await this.store.set(folderKey(bucket, key), String(modified), this.ttlMs);
  }

  async forgetFolder(bucket: string, key: string): Promise<void> {
    await this.store.delete(folderKey(bucket, key));
  }
}

/** The folder a key is listed in (`a/b/` for `a/b/c` and for `a/b/c/`; '' at the top). */
function parentOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/', key.length - 2) + 1);
}
