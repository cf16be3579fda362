import { link, lstat, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createNew, reopenOwn, temporaryName, writePrivateFile } from '../../src/shell/local-files.js';

/**
 * The files the Gateway Shell writes where another local user may write too (a shared download folder, a
 * configuration path given by GWS_CONFIG), attacked the way such a user would: links planted in advance.
 */
let dir: string;
let victim: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shell-local-files-'));
  victim = path.join(dir, 'victim');
  await writeFile(victim, 'precious\n');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the shell’s own files', () => {
  it('are written whole, owner-only, through no link planted where a temporary file could be expected', async () => {
    const file = path.join(dir, 'config.json');
    const guesses = [`${file}.tmp`, `${file}.${process.pid}.tmp`, `${file}.${process.pid}`, `${file}.0000000000000000.tmp`];
    for (const guess of guesses) await symlink(victim, guess);
    await writePrivateFile(file, '{"mounts":{}}\n');
    await writePrivateFile(file, '{"mounts":{"a":{}}}\n');
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(await readFile(file, 'utf8')).toBe('{"mounts":{"a":{}}}\n');
    expect((await lstat(file)).mode & 0o777).toBe(0o600);
    // Nothing left behind but the planted links.
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'victim', ...guesses.map((g) => path.basename(g))].sort());
  });

  it('replace a link planted at their own name instead of writing through it', async () => {
    const file = path.join(dir, 'state.json');
    await symlink(victim, file);
    await writePrivateFile(file, 'mine\n');
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect((await lstat(file)).isFile()).toBe(true);
  });

  it('get temporary names nobody can guess, short enough for any file system', () => {
    const long = path.join(dir, `${'é'.repeat(127)}.bin`); // 258 bytes
    const a = temporaryName(long, 'gws-partial');
    const b = temporaryName(long, 'gws-partial');
    expect(a).not.toBe(b);
    expect(path.dirname(a)).toBe(dir);
    expect(Buffer.byteLength(path.basename(a))).toBeLessThanOrEqual(255);
    expect(path.basename(temporaryName(path.join(dir, 'a.txt'), 'gws-partial'))).toMatch(/^a\.txt\.[0-9a-f]{16}\.gws-partial$/);
  });

  it('are made new, never through a link or onto a file that exists', async () => {
    const planted = path.join(dir, 'planted');
    await symlink(victim, planted);
    await expect(createNew(planted)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(createNew(victim)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
  });

  it('are resumed only while they are still the shell’s own plain file: not a link or a second name put in their place', async () => {
    const partial = path.join(dir, 'a.partial');
    await (await createNew(partial)).close();
    const own = await reopenOwn(partial);
    expect(own).toBeDefined();
    await own!.close();

    await rm(partial);
    await symlink(victim, partial);
    expect(await reopenOwn(partial)).toBeUndefined();

    await rm(partial);
    await link(victim, partial);
    expect(await reopenOwn(partial)).toBeUndefined();
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(await reopenOwn(path.join(dir, 'gone'))).toBeUndefined();
  });
});
