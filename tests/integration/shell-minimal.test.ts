import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AS_ON_WINDOWS, spawnGws, type GwsResult } from '../support/gws.js';
import { hashesUnder, sha256OfFile } from '../support/local-files.js';
import { startMinimalGateway, type MinimalGateway } from '../support/minimal-gateway.js';
import { waitFor } from '../support/processes.js';

/**
 * The Gateway Shell, a process per command, against a gateway that answers each route with only what
 * odrive's spec requires (tests/support/minimal-gateway.ts): no refresh token, no segment size, no
 * segmented uploads, no thumbnails, no byte ranges, and rename, move and upload answers that are not
 * whole entries. Every command must work, or say in one line why it cannot.
 */
const MiB = 1024 * 1024;
const USER = 'minimal-user';
const PASSWORD = 'minimal-gateway-password';

let gateway: MinimalGateway;
let dir: string;
let config: string;
let tree: string;

const gwsProcess = (args: string[]) => spawnGws(args, { cwd: dir, config });

const gws = (...args: string[]) => gwsProcess(args).done;

/** A command that must succeed and say nothing on stderr (no progress bars without a terminal, no errors). */
async function ok(...args: string[]): Promise<string> {
  const r = await gws(...args);
  if (r.code !== 0 || r.stderr !== '') throw new Error(`gws ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const lines = (out: string) => out.split('\n').filter(Boolean);

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A fresh local folder to download into. */
async function localFolder(name: string): Promise<string> {
  const folder = path.join(dir, name);
  await mkdir(folder);
  return folder;
}

const requestsTo = (prefix: string) => gateway.requests.filter((r) => r.path.startsWith(prefix));

beforeAll(async () => {
  gateway = await startMinimalGateway({ user: USER, password: PASSWORD });
  dir = await mkdtemp(path.join(tmpdir(), 'shell-minimal-'));
  config = path.join(dir, 'home', 'gws', 'config.json');
  // 6 MiB: above the segment size the full gateway announces in the shell tests; here it goes in one request.
  tree = path.join(dir, 'local', 'tree');
  await mkdir(path.join(tree, 'sub dir', 'deeper'), { recursive: true });
  await writeFile(path.join(tree, 'a.txt'), 'alpha\n');
  await writeFile(path.join(tree, 'sub dir', 'café ☕.txt'), 'unicode\n');
  await writeFile(path.join(tree, 'sub dir', 'deeper', 'empty.bin'), '');
  await writeFile(path.join(tree, 'sub dir', 'big.bin'), randomBytes(6 * MiB));
});

afterAll(async () => {
  await gateway?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('gws against a gateway that answers only what the spec requires', () => {
  it('signs in with --field and keeps no refresh token and no segment size, since the gateway gave none', async () => {
    expect(await ok('mounts', 'add', 'min', gateway.url, '--field', `user=${USER}`, '--field', `password=${PASSWORD}`)).toBe(
      `mounted ${gateway.url} at /gateway/min\n`,
    );
    const mount = (JSON.parse(await readFile(config, 'utf8')) as { mounts: Record<string, Record<string, unknown>> }).mounts.min!;
    expect(mount.rootId).toBe(gateway.rootId);
    expect(typeof mount.accessToken).toBe('string');
    expect(mount).not.toHaveProperty('refreshToken');
    expect(mount).not.toHaveProperty('segmentSize');
    expect(lines(await ok('ls', '/gateway'))).toEqual(['min/']);
  });

  it('makes folders, uploads a tree with a 6 MiB file in one request each, lists it, and downloads it back byte for byte', async () => {
    await ok('mkdir', '/gateway/min/docs');
    const up = await ok('upload', tree, '/gateway/min/docs');
    expect(up).toContain('big.bin (6291456 bytes)');
    expect(lines(up)).toHaveLength(4);
    // No segment size announced: every file in one request, the segmented routes never asked.
    expect(requestsTo('/v2/gateway_metadata_file/').filter((r) => r.method === 'POST' && r.status === 200)).toHaveLength(4);
    expect(requestsTo('/v2/gateway_upload')).toEqual([]);

    await ok('cd', '/gateway/min/docs/tree');
    expect(lines(await ok('ls'))).toEqual(['a.txt', 'sub dir/']);
    // The listing says no size or modified time: shown as unknown, not made up.
    const long = await ok('ls', '-l', 'sub dir');
    expect(long).toMatch(/^- +\? +- +big\.bin$/m);
    expect(long).toMatch(/^d +- +- +deeper\/$/m);
    const stat = await ok('stat', 'sub dir/big.bin');
    expect(stat).toMatch(/^type: +file$/m);
    expect(stat).toMatch(/^size: +unknown \(the gateway does not say\)$/m);

    const back = await localFolder('back');
    await ok('download', '/gateway/min/docs/tree', back);
    expect(await hashesUnder(path.join(back, 'tree'))).toEqual(await hashesUnder(tree));
  });

  it('copies a folder within the gateway, though it never says a size', async () => {
    expect(await ok('copy', '/gateway/min/docs/tree', '/gateway/min')).toContain(
      'copied /gateway/min/docs/tree/sub dir/big.bin → /gateway/min/tree/sub dir/big.bin (6291456 bytes)',
    );
    const back = await localFolder('back-copy');
    await ok('download', '/gateway/min/tree', back);
    expect(await hashesUnder(path.join(back, 'tree'))).toEqual(await hashesUnder(tree));
  });

  it('renames and moves, though the answers carry only id and name, or id and parent id', async () => {
    await ok('cd', '/gateway/min/docs');
    expect(await ok('rename', 'tree/a.txt', 'renamed.txt')).toBe('');
    expect(lines(await ok('ls', 'tree'))).toEqual(['renamed.txt', 'sub dir/']);
    expect(await ok('mv', 'tree/renamed.txt', '/gateway/min/docs')).toBe('');
    // Moved, then renamed: the second call needs the moved entry's new id and its name, which the move answer leaves out.
    expect(await ok('mv', 'tree/sub dir', 'moved dir')).toBe('');
    expect(lines(await ok('ls'))).toEqual(['moved dir/', 'renamed.txt', 'tree/']);
    expect(lines(await ok('ls', 'moved dir'))).toEqual(['big.bin', 'café ☕.txt', 'deeper/']);
    expect(requestsTo('/v2/gateway_metadata_name/').map((r) => r.status)).toEqual([200, 200]);
    expect(requestsTo('/v2/gateway_metadata_parent/').map((r) => r.status)).toEqual([200, 200]);

    const back = await localFolder('back-moved');
    await ok('download', '/gateway/min/docs/moved dir/big.bin', '/gateway/min/docs/renamed.txt', back);
    expect(await sha256OfFile(path.join(back, 'big.bin'))).toBe(await sha256OfFile(path.join(tree, 'sub dir', 'big.bin')));
    expect(await readFile(path.join(back, 'renamed.txt'), 'utf8')).toBe('alpha\n');
  });

  it('shows names and messages from the gateway with control characters escaped, never sent to the terminal', async () => {
    // A title change, a screen clear and a right-to-left override: what a hostile name would make a terminal do.
    const evil = 'evil\u001b]0;pwned\u0007\u001b[2J\u202etxt.exe';
    await ok('mkdir', `/gateway/min/${evil}`);
    const listed = await ok('ls', '/gateway/min');
    const refused = await gws('mkdir', `/gateway/min/${evil}`);
    expect(refused.code).toBe(1);
    for (const text of [listed, refused.stdout, refused.stderr]) {
      // eslint-disable-next-line no-control-regex -- no raw control character may come out
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/u);
    }
    expect(lines(listed)).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\u202etxt.exe/');
    expect(refused.stderr).toContain('evil\\x1b]0;pwned');
    await ok('rm', '-r', `/gateway/min/${evil}`);
  });

  it('downloads through no link planted in a shared folder: its partial file is made new, under a name nobody can guess', async () => {
    await ok('upload', path.join(tree, 'a.txt'), '/gateway/min/docs');
    try {
      // Someone else who can write the folder plants links where a predictable partial file or its state would go.
      const into = await localFolder('shared-folder');
      const victims = await localFolder('victims');
      const planted = ['a.txt.gws-partial', 'a.txt.gws-partial.json', `a.txt.${'0'.repeat(16)}.gws-partial`, 'a.txt'];
      for (const [i, name] of planted.entries()) {
        await writeFile(path.join(victims, `v${i}`), `precious ${i}\n`);
        await symlink(path.join(victims, `v${i}`), path.join(into, name));
      }
      await ok('download', '/gateway/min/docs/a.txt', into);
      for (const i of planted.keys()) expect(await readFile(path.join(victims, `v${i}`), 'utf8')).toBe(`precious ${i}\n`);
      // The download replaced the link of its own name (a rename does not follow it), and made no file of a planted name.
      expect((await lstat(path.join(into, 'a.txt'))).isFile()).toBe(true);
      expect(await readFile(path.join(into, 'a.txt'), 'utf8')).toBe('alpha\n');
      expect((await readdir(into)).sort()).toEqual(planted.sort());
    } finally {
      await gws('rm', '/gateway/min/docs/a.txt');
    }
  });

  it('refuses, as on Windows, the names Windows cannot hold, each with a clear line, and takes the others', async () => {
    const odd = await localFolder('odd-names');
    const refused = ['CON', 'nul.txt', 'Com1.tar.gz', 'a:b', 'what?', 'trailing.', 'trailing ', 'pipe|d'];
    const fine = ['CONSOLE.txt', 'a.b', '.hidden', 'con-tract.pdf'];
    for (const name of [...refused, ...fine]) await writeFile(path.join(odd, name), `${name}\n`);
    await ok('mkdir', '/gateway/min/odd');
    try {
      await ok('upload', ...[...refused, ...fine].map((n) => path.join(odd, n)), '/gateway/min/odd');
      const into = await localFolder('on-windows');
      for (const name of refused) {
        const r = await spawnGws(['download', `/gateway/min/odd/${name}`, into], { cwd: dir, config, nodeArgs: AS_ON_WINDOWS }).done;
        expect(r).toMatchObject({ code: 1, stdout: '' });
        expect(r.stderr).toMatch(
          new RegExp(`^gws: the gateway sent the name ${escapeRegExp(JSON.stringify(name))}, which Windows cannot hold \\(.+\\); nothing written for it\n$`),
        );
      }
      for (const name of fine) {
        const r = await spawnGws(['download', `/gateway/min/odd/${name}`, into], { cwd: dir, config, nodeArgs: AS_ON_WINDOWS }).done;
        expect(r).toMatchObject({ code: 0, stderr: '' });
      }
      expect((await readdir(into)).sort()).toEqual([...fine].sort());
      // The same names are fine where the system holds them.
      const here = await localFolder('on-linux');
      await ok('download', '/gateway/min/odd', here);
      expect((await readdir(path.join(here, 'odd'))).sort()).toEqual([...refused, ...fine].sort());
    } finally {
      await gws('rm', '-r', '/gateway/min/odd');
    }
  });

  it('warns that plain http:// to another machine carries the password and tokens in clear', async () => {
    // (.invalid never resolves: the warning comes before any connection, then the address fails.)
    const plain = await gws('mounts', 'add', 'far', 'http://gateway.invalid:8080', '--field', `user=${USER}`, '--field', `password=${PASSWORD}`);
    expect(plain.code).toBe(1);
    expect(plain.stderr.split('\n')[0]).toBe(
      'gws: warning: http://gateway.invalid:8080 is not encrypted: the sign-in fields and every token will travel in clear; use https://',
    );
    const encrypted = await gws('mounts', 'add', 'far', 'https://gateway.invalid:8443', '--field', `user=${USER}`, '--field', `password=${PASSWORD}`);
    expect(encrypted.code).toBe(1);
    expect(encrypted.stderr).not.toContain('warning');
  });

  it('deletes files and folders, and says no in one line with exit 1', async () => {
    await ok('cd', '/gateway/min/docs');
    expect(await gws('rm', 'moved dir')).toMatchObject({ code: 1, stderr: 'gws: /gateway/min/docs/moved dir: is a folder; use rm -r\n' });
    await ok('rm', '-r', 'moved dir');
    await ok('rm', 'renamed.txt');
    expect(lines(await ok('ls'))).toEqual(['tree/']);
    // The gateway's own refusal (a plain-text body) in one line.
    await ok('mkdir', 'taken');
    expect(await gws('rename', 'tree', 'taken')).toMatchObject({ code: 1, stderr: 'gws: rename: 409 name conflict\n' });
  });

  it('starts an interrupted download over, since the gateway sends files whole', async () => {
    await ok('upload', path.join(tree, 'sub dir', 'big.bin'), '/gateway/min/docs/tree');
    const into = await localFolder('resume-down');
    const partialFile = () => readdirSync(into).find((n) => /^big\.bin\.[0-9a-f]{16}\.gws-partial$/.test(n));
    const first = gwsProcess(['--limit-rate', '2M', 'download', '/gateway/min/docs/tree/big.bin', into]);
    let ended: GwsResult | undefined;
    void first.done.then((r) => (ended = r));
    await waitFor(
      () => ended !== undefined || (partialFile() !== undefined && statSync(path.join(into, partialFile()!)).size >= MiB),
      '1 MiB to arrive',
      20_000,
    );
    if (ended) throw new Error(`the first download ended before it was interrupted: ${ended.stderr}`);
    first.child.kill('SIGKILL');
    await first.done;

    const second = await ok('download', '/gateway/min/docs/tree/big.bin', into);
    expect(second).toMatch(/resuming download of big\.bin at byte \d+/);
    expect(second).toContain('the gateway sent big.bin whole (no byte ranges): downloading it from the start');
    expect(gateway.requests.filter((r) => r.range).map((r) => r.status)).toEqual([200]);
    expect(await sha256OfFile(path.join(into, 'big.bin'))).toBe(await sha256OfFile(path.join(tree, 'sub dir', 'big.bin')));
    expect(await readdir(into)).toEqual(['big.bin']);
  });

  it('reports what the gateway offers: no segment size, no refresh token, no thumbnails, no byte ranges', async () => {
    await ok('upload', path.join(tree, 'a.txt'), '/gateway/min');
    const out = await ok('diagnostic', 'min');
    expect(out).toMatch(/^dialect: +final/m);
    expect(out).toMatch(/^sign-in: +form \(user, password\)$/m);
    expect(out).toMatch(/^segment size: +none announced; every file uploads in one request$/m);
    expect(out).toMatch(/^refresh: +no refresh token; when the access token expires, sign in again \(mounts add\)$/m);
    expect(out).toMatch(/^latency: +get entry of the root, 5 calls: median \d+\.\d ms/m);
    expect(out).toMatch(/^listing: +the root, 3 entries/m);
    expect(out).toMatch(/^thumbnails: +no: the gateway serves none \(404\)$/m);
    expect(out).toMatch(/^byte ranges: +no: interrupted downloads start over$/m);
  });

  it('says in one line that the session ended when the access token expires, and works again after a new sign-in', async () => {
    gateway.expireSessions();
    const expired = await gws('ls', '/gateway/min');
    expect(expired.code).toBe(1);
    expect(expired.stderr).toBe('gws: list folder: 401 authorization required (the gateway gave no refresh token: sign in again with mounts add)\n');
    await ok('mounts', 'add', 'min', gateway.url, '--field', `user=${USER}`, '--field', `password=${PASSWORD}`);
    expect(lines(await ok('ls', '/gateway/min'))).toEqual(['a.txt', 'docs/', 'tree/']);
  });
});
