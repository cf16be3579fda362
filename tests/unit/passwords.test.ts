import { hashPassword, parsePasswordHash, verifyPassword } from '../../src/core/auth/passwords.js';

describe('password hashes', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const hash = await hashPassword('s3cret-enough');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    await expect(verifyPassword('s3cret-enough', hash)).resolves.toBe(true);
    await expect(verifyPassword('s3cret-enougH', hash)).resolves.toBe(false);
    await expect(verifyPassword('', hash)).resolves.toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same')).not.toBe(await hashPassword('same'));
  });

  it('refuses malformed or too-weak hashes instead of throwing', async () => {
    for (const bad of ['', 'plain', 'scrypt$3$8$1$AAAA$AAAA', 'scrypt$32768$8$1$c2hvcnQ=$c2hvcnQ=', 'bcrypt$2b$10$x']) {
      expect(parsePasswordHash(bad)).toBeUndefined();
      await expect(verifyPassword('x', bad)).resolves.toBe(false);
    }
  });
});
