import type { ObjectSummary } from '../storage/bucket-store.js';
import { isCleanRelativeKey } from './ids.js';

/** Hadoop-style folder markers (`name_$folder$`), written by EMR/s3n and some GUI tools. */
export const LEGACY_FOLDER_SUFFIX = '_$folder$';

/**
 * The children one page of a delimiter listing shows, as a file system sees them: objects are files,
 * common prefixes and Hadoop-style `name_$folder$` markers are folders, the folder's own marker is not
 * its child, and keys no file system can show (empty, `.` or `..` segments, NUL) are left out. Folders
 * map their key relative to `root` to their full key; files keep S3's order.
 */
export function listingChildren(
  root: string,
  prefix: string,
  objects: ObjectSummary[],
  prefixes: string[],
): { folders: Map<string, string>; files: ObjectSummary[] } {
  const folders = new Map<string, string>();
  const files: ObjectSummary[] = [];
  for (const o of objects) {
    if (o.key === prefix) continue; // the folder's own marker
    const rel = o.key.slice(root.length);
    if (o.key.endsWith(LEGACY_FOLDER_SUFFIX)) {
      const folderRel = `${rel.slice(0, -LEGACY_FOLDER_SUFFIX.length)}/`;
      if (isCleanRelativeKey(folderRel)) folders.set(folderRel, root + folderRel);
    } else if (isCleanRelativeKey(rel) && !rel.endsWith('/')) {
      files.push(o);
    }
  }
  for (const p of prefixes) {
    const rel = p.slice(root.length);
    if (isCleanRelativeKey(rel)) folders.set(rel, p);
  }
  return { folders, files };
}
