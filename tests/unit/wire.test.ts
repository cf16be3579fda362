import fc from 'fast-check';
import type { Entry } from '../../src/core/file-system.js';
import { FINAL, SEED, SEGMENTED_NAMES, SEGMENTED_OPERATIONS, type Dialect } from '../../src/http/dialects.js';
import {
  entriesJsonText,
  entryJson,
  errorInDialect,
  readDeclarationInput,
  readFields,
  readSegmentHeader,
  readSegmentPlan,
  startedUploadJson,
} from '../../src/http/wire.js';
import { invalid } from '../../src/errors.js';

const entry = fc.record({
  id: fc.string({ minLength: 1 }),
  parentId: fc.string({ minLength: 1 }),
  type: fc.constantFrom('file' as const, 'folder' as const),
  name: fc.string({ minLength: 1 }),
  modified: fc.integer({ min: 1 }),
  size: fc.nat(),
  hash: fc.string({ minLength: 1 }),
});

describe('wire names, both ways', () => {
  it.each([FINAL, SEED].map((d) => [d.name, d] as const))('%s: an entry written through the table reads back to the same values', (_n, d) => {
    fc.assert(
      fc.property(entry, (e) => {
        const json = entryJson(d, e);
        const back = readFields(d, json, ['fileId', 'type', 'name', 'modified', 'size', 'hash']);
        expect(back).toEqual({
          fileId: e.id,
          type: e.type,
          name: e.name,
          modified: e.modified,
          size: e.type === 'file' ? e.size : undefined,
          hash: e.type === 'file' ? e.hash : undefined,
        });
      }),
    );
  });

  it.each([FINAL, SEED].map((d) => [d.name, d] as const))('%s: a listing’s JSON text is exactly JSON.stringify of its entries', (_n, d) => {
    const anyEntry = fc.record({
      id: fc.string(),
      parentId: fc.string(),
      type: fc.constantFrom('file' as const, 'folder' as const),
      name: fc.string({ unit: 'binary' }),
      modified: fc.oneof(fc.integer(), fc.double()),
      size: fc.option(fc.oneof(fc.nat(), fc.double()), { nil: undefined }),
      hash: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(anyEntry, { maxLength: 8 }), (entries) => {
        expect(entriesJsonText(d, entries)).toBe(JSON.stringify(entries.map((e) => entryJson(d, e))));
      }),
    );
    const odd: Entry = { id: 'x', parentId: 'root', type: 'file', name: 'a"\\\n\u2028\ud800<', modified: Number.NaN };
    expect(entriesJsonText(d, [odd])).toBe(JSON.stringify([entryJson(d, odd)]));
  });

  it('writes the parent id only where the dialect has a name for it', () => {
    const e: Entry = { id: 'a', parentId: 'root', type: 'folder', name: 'a', modified: 1 };
    expect(entryJson(FINAL, e)['gateway.metadata.parent.id']).toBe('root');
    expect(Object.keys(entryJson(SEED, e)).sort()).toEqual(['content.id', 'content.name', 'content.type', 'file.modified']);
  });

  it('reads a declaration and a segment plan by meaning, whatever the dialect calls them', () => {
    expect(readDeclarationInput(SEED, { 'file.size': 3, 'file.modified': 9, 'file.sha256': 'x', 'gateway.metadata.file.size': 4 })).toEqual({
      size: 3,
      modified: 9,
      sha256: 'x',
    });
    expect(readDeclarationInput(FINAL, { 'file.size': 3, 'gateway.metadata.file.size': 4 })).toEqual({ size: 4, modified: undefined, sha256: undefined });
    const plan = {
      'gateway.upload.segment': [{ 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': 2, 'gateway.upload.segment.sha256': 'h' }, 'junk'],
    };
    expect(readSegmentPlan(FINAL, plan)).toEqual([{ number: 1, size: 2, sha256: 'h' }, {}]);
    expect(readSegmentPlan(FINAL, { 'gateway.upload.segment': 'x' })).toBeUndefined();
    expect(readSegmentHeader(FINAL, { 'gateway.upload.cookie': 'c', 'gateway.upload.segment.number': 2 })).toEqual({
      cookie: 'c',
      number: 2,
      size: undefined,
      sha256: undefined,
    });
  });

  it('writes a started upload with the final names', () => {
    const json = startedUploadJson(FINAL, { id: 'u', cookie: 'k', expiresAt: 5, segments: [{ number: 1, size: 2, sha256: 'h', cookie: 's' }] });
    expect(json).toEqual({
      'gateway.upload.id': 'u',
      'gateway.upload.cookie': 'k',
      'gateway.upload.expiration': 5,
      'gateway.upload.segment': [
        { 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': 2, 'gateway.upload.segment.sha256': 'h', 'gateway.upload.segment.cookie': 's' },
      ],
    });
  });

  it("names an error's field, and its place in a list, in the dialect's words; form fields keep the form's name", () => {
    expect(errorInDialect(FINAL, invalid('segmentSize', 'is odd', { field: 'segments', index: 2 }))).toEqual({
      field: 'gateway.upload.segment[2].gateway.upload.segment.size',
      message: 'gateway.upload.segment[2].gateway.upload.segment.size: is odd',
    });
    expect(errorInDialect(SEED, invalid('size', 'is odd'))).toEqual({ field: 'file.size', message: 'file.size: is odd' });
    expect(errorInDialect(SEED, invalid('form.password', 'is required'))).toEqual({ field: 'password', message: 'password: is required' });
  });

  it('every dialect that serves segmented uploads names all they use', () => {
    for (const d of [FINAL, SEED] as Dialect[]) {
      if (SEGMENTED_OPERATIONS.some((op) => d.routes[op])) for (const n of SEGMENTED_NAMES) expect(d.fields[n]).toEqual(expect.any(String));
    }
  });
});
