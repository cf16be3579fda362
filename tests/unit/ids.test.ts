import fc from 'fast-check';
import { GatewayError } from '../../src/errors.js';
import { checkName, decodeId, encodeId, isCleanRelativeKey, MAX_NAME_BYTES, nameOf, parentOf, ROOT_ID } from '../../src/core/ids.js';

/** A name a file system can show: not empty, `.` or `..`, no `/` or NUL. */
const name = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }).filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0'));
const relativeKey = fc.tuple(fc.array(name, { minLength: 1, maxLength: 4 }), fc.boolean()).map(([parts, folder]) => `${parts.join('/')}${folder ? '/' : ''}`);
const kindOf = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return err instanceof GatewayError ? err.kind : 'thrown';
  }
};

describe('ids', () => {
  it('round-trip every key an account can have, URL-safe, the same every time', () => {
    fc.assert(
      fc.property(relativeKey, (rel) => {
        const id = encodeId(rel);
        expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeId(id)).toBe(rel);
        expect(encodeId(rel)).toBe(id);
      }),
    );
    expect(encodeId('')).toBe(ROOT_ID);
    expect(decodeId(ROOT_ID)).toBe('');
    expect(decodeId('')).toBe('');
  });

  it('refuse what is not canonical base64url of UTF-8 with 400, and keys no account can have with 404', () => {
    expect(kindOf(() => decodeId('abc$def'))).toBe('invalid');
    expect(kindOf(() => decodeId(Buffer.from([0xff, 0xfe, 0x41]).toString('base64url')))).toBe('invalid');
    expect(kindOf(() => decodeId('x'.repeat(2000)))).toBe('invalid');
    fc.assert(
      fc.property(relativeKey, (rel) => {
        const id = encodeId(rel);
        // another spelling of the same bytes (trailing bits set) is not the id
        const last = id.at(-1)!;
        const sibling = id.slice(0, -1) + (last === 'A' ? 'B' : 'A');
        if (Buffer.from(sibling, 'base64url').toString('base64url') !== sibling) expect(kindOf(() => decodeId(sibling))).toBe('invalid');
      }),
    );
    for (const unclean of ['a//b', '/a', 'a/./b', 'a/../b', '..', 'a\0b', '/'])
      expect(kindOf(() => decodeId(Buffer.from(unclean).toString('base64url')))).toBe('not_found');
  });

  it('split keys into parent and name, and call clean exactly the keys of names', () => {
    fc.assert(
      fc.property(relativeKey, (rel) => {
        expect(isCleanRelativeKey(rel)).toBe(true);
        const folder = rel.endsWith('/');
        expect(`${parentOf(rel)}${nameOf(rel)}${folder ? '/' : ''}`).toBe(rel);
        expect(isCleanRelativeKey(parentOf(rel))).toBe(true);
      }),
    );
    for (const unclean of ['a//b', '/a', './a', 'a/..', 'a\0']) expect(isCleanRelativeKey(unclean)).toBe(false);
  });

  it('take a new name exactly when a file system could have it and the key fits in S3', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 300, unit: 'grapheme' }), fc.constantFrom('', '.', '..', 'a/b', 'a\0')),
        fc.nat(1100),
        (candidate, prefixBytes) => {
          const prefix = 'p'.repeat(prefixBytes);
          const fits = Buffer.byteLength(prefix + candidate, 'utf8') <= 1024;
          const valid =
            candidate !== '' &&
            candidate !== '.' &&
            candidate !== '..' &&
            !candidate.includes('/') &&
            !candidate.includes('\0') &&
            Buffer.byteLength(candidate) <= MAX_NAME_BYTES;
          expect(kindOf(() => checkName(candidate, 'name', (n) => prefix + n))).toBe(valid && fits ? 'ok' : 'invalid');
        },
      ),
    );
  });
});
