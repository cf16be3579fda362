import fc from 'fast-check';
import { openPageToken, sealPageToken } from '../../src/core/page-tokens.js';
import { GatewayError } from '../../src/errors.js';

describe('page tokens', () => {
  it('give back the S3 token they were sealed with, for the folder they were sealed for', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), (prefix, token) => {
        expect(openPageToken(prefix, sealPageToken(prefix, token))).toBe(token);
      }),
    );
  });

  it('refuse with 400 a token of another folder, a changed token, or one made up', () => {
    const refused = (prefix: string, page: string) => {
      try {
        openPageToken(prefix, page);
        return false;
      } catch (err) {
        return err instanceof GatewayError && err.kind === 'invalid' && err.field === 'page';
      }
    };
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string({ minLength: 1 }), fc.nat(), (prefix, other, token, at) => {
        const sealed = sealPageToken(prefix, token);
        if (other !== prefix) expect(refused(other, sealed)).toBe(true);
        const i = at % sealed.length;
        const changed = sealed.slice(0, i) + (sealed[i] === 'A' ? 'B' : 'A') + sealed.slice(i + 1);
        expect(refused(prefix, changed)).toBe(true);
      }),
    );
    fc.assert(fc.property(fc.string(), fc.string(), (prefix, madeUp) => expect(refused(prefix, madeUp)).toBe(true)));
  });
});
