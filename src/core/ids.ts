import { S3_MAX_KEY_BYTES } from '../storage/s3/limits.js';
import { GatewayError, invalid, type Field } from '../errors.js';

/**
 * Ids are the base64url encoding (no padding) of an object's key relative to the account's root; a
 * folder's key ends in '/'. They are stable across sessions, restarts and instances because they
 * depend on nothing but the key.
 *
 * Ids are not authenticated with a server-held MAC, on purpose: an account may read every key under its
 * root anyway (a listing shows them all), so a forged id can reach nothing that a listing would not,
 * while decoding confines every id to the root. A MAC key would add a secret whose loss or rotation
 * changes every id, and odrive treats a changed id as a deleted file and a new one.
 */

/** The id of an account's root. Reserved: "root" is not the base64url form of any valid UTF-8 key. */
export const ROOT_ID = 'root';

export const MAX_KEY_BYTES = S3_MAX_KEY_BYTES;

/** What desktop file systems (ext4, APFS, NTFS) allow for one name: longer names could never sync down. */
export const MAX_NAME_BYTES = 255;

const ID_SHAPE = /^[A-Za-z0-9_-]+$/;
const MAX_ID_LENGTH = Math.ceil((MAX_KEY_BYTES * 4) / 3);
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeId(relativeKey: string): string {
  return relativeKey === '' ? ROOT_ID : Buffer.from(relativeKey, 'utf8').toString('base64url');
}

/** True when every segment of a relative key is a usable name (no empty, `.`, `..` or NUL segment). */
export function isCleanRelativeKey(relativeKey: string): boolean {
  if (relativeKey === '') return true;
  // Every listed key passes here: a scan of the string, without splitting it into segments.
  if (relativeKey.includes('\0')) return false;
  const end = relativeKey.endsWith('/') ? relativeKey.length - 1 : relativeKey.length;
  if (end === 0) return false;
  for (let start = 0; start <= end;) {
    let slash = relativeKey.indexOf('/', start);
    if (slash < 0 || slash > end) slash = end;
    const length = slash - start;
    if (length === 0) return false;
    if (relativeKey.charCodeAt(start) === 46 && (length === 1 || (length === 2 && relativeKey.charCodeAt(start + 1) === 46))) return false;
    start = slash + 1;
  }
  return true;
}

/**
 * The relative key an id stands for. An id that is not canonical base64url of UTF-8 is malformed
 * (400); one that decodes to a key no object of this account can have is treated as unknown (404).
 */
export function decodeId(id: string, field: Field = 'id'): string {
  if (id === '' || id === ROOT_ID) return '';
  if (id.length > MAX_ID_LENGTH || !ID_SHAPE.test(id)) throw invalid(field, 'is not a valid id');
  const bytes = Buffer.from(id, 'base64url');
  if (bytes.toString('base64url') !== id) throw invalid(field, 'is not a valid id');
  let key: string;
  try {
    key = utf8.decode(bytes);
  } catch {
    throw invalid(field, 'is not a valid id');
  }
  if (!isCleanRelativeKey(key)) throw new GatewayError('not_found', 'No such file or folder.');
  return key;
}

export const isFolderKey = (relativeKey: string) => relativeKey === '' || relativeKey.endsWith('/');

/** The folder that holds a key ('' for the root's children). */
export function parentOf(relativeKey: string): string {
  const body = relativeKey.endsWith('/') ? relativeKey.slice(0, -1) : relativeKey;
  const slash = body.lastIndexOf('/');
  return slash < 0 ? '' : body.slice(0, slash + 1);
}

export function nameOf(relativeKey: string): string {
  const body = relativeKey.endsWith('/') ? relativeKey.slice(0, -1) : relativeKey;
  return body.slice(body.lastIndexOf('/') + 1);
}

/** Checks a client-given name and the key it would make; 400 naming the field and the problem. */
export function checkName(name: unknown, field: Field, fullKeyWithName: (name: string) => string): string {
  if (name === undefined || name === null) throw invalid(field, 'is required');
  if (typeof name !== 'string') throw invalid(field, 'must be a string');
  if (name === '') throw invalid(field, 'must not be empty');
  if (name === '.' || name === '..') throw invalid(field, `must not be "${name}"`);
  if (name.includes('/')) throw invalid(field, 'must not contain "/"');
  if (name.includes('\0')) throw invalid(field, 'must not contain a NUL character');
  const nameBytes = Buffer.byteLength(name, 'utf8');
  if (nameBytes > MAX_NAME_BYTES) throw invalid(field, `is ${nameBytes} bytes long in UTF-8; names may have at most ${MAX_NAME_BYTES}`);
  const bytes = Buffer.byteLength(fullKeyWithName(name), 'utf8');
  if (bytes > MAX_KEY_BYTES) throw invalid(field, `makes the S3 key ${bytes} bytes long; S3 allows ${MAX_KEY_BYTES}`);
  return name;
}
