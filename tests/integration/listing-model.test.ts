import fc from 'fast-check';
import { LEGACY_FOLDER_SUFFIX } from '../../src/core/listing.js';
import { idOf, listAll, seed, signIn, uniqueRoot, type Client } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

/**
 * A reference model of what a bucket's keys look like as a folder tree (as mountpoint-s3 checks its own
 * listings against one), against what the gateway lists: random key sets go into S3 as other tools would
 * write them, and every folder the model has is listed through the gateway and compared.
 */

/** The folder tree a set of keys makes, below `top`: for each folder, its child folders and files. */
function modelTree(keys: string[], top: string): Map<string, { folders: string[]; files: string[] }> {
  const tree = new Map<string, { folders: Set<string>; files: Set<string> }>();
  const folder = (f: string) => tree.get(f) ?? tree.set(f, { folders: new Set(), files: new Set() }).get(f)!;
  folder(top);
  for (const key of keys) {
    const parts = key.slice(top.length).split('/');
    let at = top;
    for (let i = 0; i < parts.length - 1; i++) {
      folder(at).folders.add(parts[i]!);
      at = `${at}${parts[i]}/`;
      folder(at);
    }
    const last = parts.at(-1)!;
    if (last === '') continue; // a folder marker: the folder, no file
    if (last.endsWith(LEGACY_FOLDER_SUFFIX)) {
      const name = last.slice(0, -LEGACY_FOLDER_SUFFIX.length);
      folder(at).folders.add(name);
      folder(`${at}${name}/`);
    } else {
      folder(at).files.add(last);
    }
  }
  return new Map([...tree].map(([f, c]) => [f, { folders: [...c.folders].sort(), files: [...c.files].sort() }]));
}

const segment = fc.constantFrom('a', 'b', 'c d', 'é', 'n+1', 'x_$folder$');
const keyUnder = (top: string) =>
  fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([parts, marker]) => `${top}${parts.join('/')}${marker ? '/' : ''}`);

describe('listings against a model of keys as a folder tree', () => {
  let gw: TestGateway;
  let c: Client;
  const root = uniqueRoot('model');
  beforeAll(async () => {
    gw = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { LIST_PAGE_SIZE: '3' } });
    c = await signIn(gw.runtime.app, 'tester');
  });
  afterAll(() => gw.close());

  it('lists every folder of random key sets as the model has it: folders, files, markers, name_$folder$', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seedValue) => {
        const top = `run-${run++}/`;
        const keys = fc.sample(fc.uniqueArray(keyUnder(top), { minLength: 1, maxLength: 12 }), { numRuns: 1, seed: seedValue })[0]!;
        await seed(
          gw.bucket,
          keys.map((k) => root + k),
        );
        for (const [folder, expected] of modelTree(keys, top)) {
          const { entries } = await listAll(c, idOf(folder));
          const listed = (type: string) =>
            entries
              .filter((e) => e['gateway.metadata.type'] === type)
              .map((e) => e['gateway.metadata.name'] as string)
              .sort();
          expect({ folder, folders: listed('folder'), files: listed('file') }).toEqual({ folder, ...expected });
          for (const e of entries) expect(e['gateway.metadata.parent.id']).toBe(idOf(folder));
        }
      }),
      { numRuns: 12 },
    );
  }, 120_000);
});
