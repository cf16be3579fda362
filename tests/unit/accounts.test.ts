import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { AccountDirectory, authIdFor, loadAccountsFile, normalizeRoot } from '../../src/core/auth/accounts.js';
import { hashPassword } from '../../src/core/auth/passwords.js';
import { S3Bucket } from '../../src/storage/s3/bucket.js';

let dir: string;
let hash: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'accounts-'));
  hash = await hashPassword('password-1');
});

const file = async (name: string, text: string) => {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
};

describe('account roots', () => {
  it.each([
    ['', ''],
    ['/', ''],
    ['alice', 'alice/'],
    ['/team/alice/', 'team/alice/'],
  ])('normalises %j to %j', (raw, root) => expect(normalizeRoot(raw)).toBe(root));

  it.each(['a//b', '../x', 'a/./b', 'a/../b', 'a\0b'])('refuses %j', (raw) => expect(normalizeRoot(raw)).toBeUndefined());
});

describe('users file', () => {
  it('reads YAML', async () => {
    const p = await file(
      'u.yaml',
      `users:\n  - name: alice\n    passwordHash: "${hash}"\n    root: alice\n  - name: bob\n    passwordHash: "${hash}"\n    readOnly: true\n`,
    );
    const accounts = await loadAccountsFile(p);
    expect(accounts.map((a) => [a.name, a.root, a.readOnly])).toEqual([
      ['alice', 'alice/', false],
      ['bob', '', true],
    ]);
    const bucket = new S3Bucket(new S3Client({ region: 'us-east-1' }), 'gateway');
    const alice = new AccountDirectory(accounts, bucket).find('alice');
    expect(alice).toMatchObject({ authId: authIdFor('users', 'alice'), principal: 'alice', root: 'alice/' });
    expect(alice?.bucket).toBe(bucket);
    expect(alice).not.toHaveProperty('passwordHash');
  });

  it('reads JSON, as a list too', async () => {
    const p = await file('u.json', JSON.stringify([{ name: 'carol', passwordHash: hash, root: 'c/' }]));
    expect((await loadAccountsFile(p))[0]).toMatchObject({ name: 'carol', root: 'c/', readOnly: false });
  });

  it.each([
    ['not yaml: [', /is not valid YAML or JSON/],
    [JSON.stringify({ users: [{ name: 'a', passwordHash: 'plain' }] }), /users\.0\.passwordHash must be a hash printed by `npm run hash-password`/],
    [JSON.stringify({ users: [{ name: 'a', passwordHash: 'HASH', root: '../x' }] }), /users\.0\.root must be a key prefix/],
    [
      JSON.stringify({
        users: [
          { name: 'a', passwordHash: 'HASH' },
          { name: 'a', passwordHash: 'HASH' },
        ],
      }),
      /user "a" is listed twice/,
    ],
    [JSON.stringify({ users: [] }), /lists no users/],
  ])('refuses a bad file with a message naming the problem (%#)', async (text, message) => {
    const p = await file('bad.json', text.replaceAll('HASH', hash));
    await expect(loadAccountsFile(p)).rejects.toThrow(message);
  });

  it("places users who name no root at MOUNTS_FILE's home template, and lets an account have no home", async () => {
    const p = await file(
      'homes.json',
      JSON.stringify({
        users: [
          { name: 'alice', passwordHash: hash },
          { name: 'bob', passwordHash: hash, root: 'shared/bob' },
          { name: 'carol', passwordHash: hash, home: false },
        ],
      }),
    );
    const [alice, bob, carol] = await loadAccountsFile(p, 'users/{name}/');
    expect(alice).toMatchObject({ root: 'users/alice/', hasHome: true });
    expect(bob).toMatchObject({ root: 'shared/bob/', hasHome: true });
    expect(carol).toMatchObject({ hasHome: false });
    // without a template a user who names no root has the whole bucket, as before
    expect((await loadAccountsFile(p))[0]).toMatchObject({ root: '' });
    // turning the home off is a change of the account: its sessions end
    const withHome = await loadAccountsFile(await file('carol.json', JSON.stringify({ users: [{ name: 'carol', passwordHash: hash }] })), 'users/{name}/');
    expect(withHome[0]!.version).not.toBe(carol!.version);
    const unsafe = await file('unsafe.json', JSON.stringify({ users: [{ name: 'a/../b', passwordHash: hash }] }));
    await expect(loadAccountsFile(unsafe, 'users/{name}/')).rejects.toThrow(/user "a\/\.\.\/b" names no root, and the name cannot be one folder/);
  });

  it('says when the file cannot be read', async () => {
    await expect(loadAccountsFile(path.join(dir, 'missing.yaml'))).rejects.toThrow(/cannot be read: ENOENT/);
  });

  it('gives one account the same auth id every time, and different accounts different ones', () => {
    expect(authIdFor('users', 'alice')).toBe(authIdFor('users', 'alice'));
    expect(authIdFor('users', 'alice')).not.toBe(authIdFor('users', 'bob'));
    expect(authIdFor('users', 'alice')).not.toContain('alice');
  });
});
