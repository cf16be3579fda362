import fc from 'fast-check';
import { isCleanRelativeKey } from '../../src/core/ids.js';
import { LEGACY_FOLDER_SUFFIX, listingChildren } from '../../src/core/listing.js';

const ROOT = 'acct/';
const PREFIX = `${ROOT}dir/`;

/** One delimiter listing of `keys` under PREFIX, as S3 answers it. */
function s3Listing(keys: string[]) {
  const objects = keys
    .filter((k) => k.startsWith(PREFIX) && !k.slice(PREFIX.length).includes('/'))
    .map((key) => ({ key, size: 1, etag: '"e"', lastModified: new Date(0) }));
  const prefixes = [
    ...new Set(keys.filter((k) => k.startsWith(PREFIX) && k.slice(PREFIX.length).includes('/')).map((k) => k.slice(0, k.indexOf('/', PREFIX.length) + 1))),
  ];
  return { objects, prefixes };
}

/** The children a file system shows, from the keys themselves: the reference. */
function children(keys: string[]): { folders: string[]; files: string[] } {
  const folders = new Set<string>();
  const files: string[] = [];
  for (const k of keys) {
    if (!k.startsWith(PREFIX) || k === PREFIX) continue;
    const rest = k.slice(PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      const folder = `dir/${rest.slice(0, slash + 1)}`;
      if (isCleanRelativeKey(folder)) folders.add(folder);
    } else if (rest.endsWith(LEGACY_FOLDER_SUFFIX)) {
      const folder = `dir/${rest.slice(0, -LEGACY_FOLDER_SUFFIX.length)}/`;
      if (isCleanRelativeKey(folder)) folders.add(folder);
    } else if (isCleanRelativeKey(`dir/${rest}`)) {
      files.push(`dir/${rest}`);
    }
  }
  return { folders: [...folders].sort(), files: files.sort() };
}

const segment = fc.constantFrom('a', 'b', 'c d', '.', '..', '', 'x_$folder$', 'é');
const key = fc.array(segment, { minLength: 1, maxLength: 3 }).chain((parts) => fc.boolean().map((marker) => `${PREFIX}${parts.join('/')}${marker ? '/' : ''}`));

describe('a listing page as a file system sees it', () => {
  it('shows objects as files, prefixes and name_$folder$ markers as folders, never the folder itself or unshowable keys', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.oneof(key, fc.constant(PREFIX)), { maxLength: 15 }), (keys) => {
        const { objects, prefixes } = s3Listing(keys);
        const { folders, files } = listingChildren(ROOT, PREFIX, objects, prefixes);
        const expected = children(keys);
        expect([...folders.keys()].sort()).toEqual(expected.folders);
        for (const [rel, full] of folders) expect(full).toBe(ROOT + rel);
        expect(files.map((o) => o.key.slice(ROOT.length)).sort()).toEqual(expected.files);
      }),
    );
  });
});
