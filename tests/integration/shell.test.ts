import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ConfigFile } from '../../src/shell/config-file.js';
import { complete } from '../../src/shell/interactive.js';
import { modifiedMs } from '../../src/shell/transfers.js';
import { Workspace } from '../../src/shell/workspace.js';
import { spawnGws } from '../support/gws.js';
import { hashesUnder, sha256OfFile } from '../support/local-files.js';
import { runGateway, waitFor, type Running } from '../support/processes.js';

/**
 * The Gateway Shell (`dist/shell/main.js`, the `gws` bin) as a user runs it: a process per command,
 * against gateway processes started as `npm start` starts them (embedded S3, in-process sessions).
 */
const MiB = 1024 * 1024;
const PASSWORD = 'shell-test-password';
const SEGMENT = 5 * MiB;

let dir: string;
let config: string;
let gatewayA: Running;
let gatewayB: Running;
let urlA: string;
let urlB: string;
/** When the mount "late" signed in: its access token (ACCESS_TOKEN_TTL=60) has expired a minute later. */
let lateSignedInAt: number;

const gwsProcess = (args: string[], opts: { stdin?: string } = {}) => spawnGws(args, { cwd: dir, config, ...opts });

const gws = (...args: string[]) => gwsProcess(args).done;

async function ok(...args: string[]): Promise<string> {
  const r = await gws(...args);
  if (r.code !== 0) throw new Error(`gws ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const readConfig = async () =>
  JSON.parse(await readFile(config, 'utf8')) as { mounts: Record<string, { accessToken: string; refreshToken: string }>; cwd: string };

function gatewayEnv(name: string): Record<string, string> {
  return { DATA_DIR: path.join(dir, name), DEMO_PASSWORD: PASSWORD, UPLOAD_SEGMENT_SIZE: String(SEGMENT), ACCESS_TOKEN_TTL: '60', LOG_FORMAT: 'json' };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shell-'));
  config = path.join(dir, 'home', 'gws', 'config.json');
  gatewayA = runGateway(gatewayEnv('a'));
  gatewayB = runGateway(gatewayEnv('b'));
  [urlA, urlB] = await Promise.all([gatewayA.url(), gatewayB.url()]);
  await ok('mounts', 'add', 'late', urlA, '--field', 'user=demo', '--field', `password=${PASSWORD}`);
  lateSignedInAt = Date.now();

  // The tree to upload: a 40 MiB file (8 segments), small files, names with spaces and Unicode.
  await mkdir(path.join(dir, 'local', 'tree', 'sub dir', 'deeper'), { recursive: true });
  await writeFile(path.join(dir, 'local', 'tree', 'a.txt'), 'alpha\n');
  await writeFile(path.join(dir, 'local', 'tree', 'sub dir', 'café ☕.txt'), 'unicode\n');
  await writeFile(path.join(dir, 'local', 'tree', 'sub dir', 'deeper', 'empty.bin'), '');
  await writeFile(path.join(dir, 'local', 'tree', 'sub dir', 'big.bin'), randomBytes(40 * MiB));
  await utimes(path.join(dir, 'local', 'tree', 'a.txt'), new Date(), new Date(1_700_000_000_123));
  await writeFile(path.join(dir, 'local', 'other.bin'), randomBytes(40 * MiB));
}, 60_000);

afterAll(async () => {
  await Promise.all([gatewayA?.stop(), gatewayB?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('gws mounts', () => {
  it('signs in with the fields the gateway asks for, and keeps the tokens in a file only its owner can read', async () => {
    expect(await ok('mounts', 'add', 'a', urlA, '--field', 'user=demo', '--field', `password=${PASSWORD}`)).toContain(`mounted ${urlA} at /gateway/a`);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    const saved = await readConfig();
    expect(saved.mounts.a!.accessToken).toMatch(/^gwa_/);
    expect(await readFile(config, 'utf8')).not.toContain(PASSWORD);
    expect(await ok('mounts', 'list')).toContain(`/gateway/a\t${urlA}`);
    expect((await ok('ls', '/gateway')).split('\n')).toEqual(expect.arrayContaining(['a/', 'late/']));
  });

  it('names the missing field when it cannot ask (no terminal), and a wrong password in one line, exit 1', async () => {
    const missing = await gws('mounts', 'add', 'x', urlA, '--field', 'user=demo');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/asks for "password".*--field password=/);
    const wrong = await gws('mounts', 'add', 'x', urlA, '--field', 'user=demo', '--field', 'password=wrong');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/^gws: sign in: 403/);
    expect((await readConfig()).mounts.x).toBeUndefined();
  });
});

describe('gws transfers and organising', () => {
  it('uploads a folder tree with a 40 MiB file, lists it, and downloads it back byte for byte', async () => {
    await ok('mkdir', '/gateway/a/docs');
    const up = await ok('upload', path.join(dir, 'local', 'tree'), '/gateway/a/docs');
    expect(up).toContain('big.bin (41943040 bytes)');
    await ok('cd', '/gateway/a/docs/tree');
    expect(await ok('pwd')).toBe('/gateway/a/docs/tree\n');
    expect((await ok('ls')).split('\n').filter(Boolean)).toEqual(['a.txt', 'sub dir/']);
    const long = await ok('ls', '-l', 'sub dir');
    expect(long).toMatch(/^- +41943040 +\S+ +big\.bin$/m);
    expect(long).toMatch(/^d +- +\S+ +deeper\/$/m);
    expect(await ok('stat', 'a.txt')).toMatch(/modified: 2023-11-14T22:13:20\.123Z/);
    // The gateway checked the whole file's sha256 the shell declared.
    expect(await ok('stat', 'sub dir/big.bin')).toContain(`hash:     ${await sha256OfFile(path.join(dir, 'local', 'tree', 'sub dir', 'big.bin'))}`);

    const back = path.join(dir, 'back');
    await mkdir(back);
    await ok('download', '/gateway/a/docs/tree', back);
    expect(await hashesUnder(path.join(back, 'tree'))).toEqual(await hashesUnder(path.join(dir, 'local', 'tree')));
    expect(await modifiedMs(path.join(back, 'tree', 'a.txt'))).toBe(1_700_000_000_123);
  });

  it('copies a folder between two mounted gateways, streaming', async () => {
    await ok('mounts', 'add', 'b', urlB, '--field', 'user=demo', '--field', `password=${PASSWORD}`);
    expect(await ok('copy', '/gateway/a/docs/tree', '/gateway/b')).toContain('copied /gateway/a/docs/tree/sub dir/big.bin');
    const back = path.join(dir, 'back-b');
    await mkdir(back);
    await ok('download', '/gateway/b/tree', back);
    expect(await hashesUnder(path.join(back, 'tree'))).toEqual(await hashesUnder(path.join(dir, 'back', 'tree')));
    expect(await gws('copy', '/gateway/b/tree', '/gateway/b/tree/sub dir')).toMatchObject({
      code: 1,
      stderr: 'gws: /gateway/b/tree: cannot copy a folder into itself\n',
    });
  });

  it('reports a gateway: dialect, sign-in, segment size, thumbnails, byte ranges, latency', async () => {
    const png = path.join(dir, 'local', 'picture.png');
    await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } })
      .png()
      .toFile(png);
    await ok('upload', png, '/gateway/b');
    const out = await ok('diagnostic', 'b');
    expect(out).toMatch(/^dialect: +final/m);
    expect(out).toMatch(/^sign-in: +form \(user, password\)/m);
    expect(out).toMatch(new RegExp(`^segment size: +${SEGMENT} bytes`, 'm'));
    expect(out).toMatch(/^thumbnails: +yes \(picture\.png\)/m);
    expect(out).toMatch(/^byte ranges: +yes/m);
    expect(out).toMatch(/^latency: +get entry of the root, 5 calls: median \d+\.\d ms/m);
  });

  it('renames, moves and deletes, and says no in one line with exit 1', async () => {
    await ok('cd', '/gateway/a/docs');
    await ok('rename', 'tree/a.txt', 'renamed.txt');
    await ok('mv', 'tree/renamed.txt', '/gateway/a/docs');
    await ok('mv', 'tree/sub dir', 'moved dir');
    expect((await ok('ls')).split('\n').filter(Boolean).sort()).toEqual(['moved dir/', 'renamed.txt', 'tree/']);
    expect(await ok('ls', 'moved dir')).toContain('big.bin');

    const folder = await gws('rm', 'moved dir');
    expect(folder).toMatchObject({ code: 1, stderr: 'gws: /gateway/a/docs/moved dir: is a folder; use rm -r\n' });
    await ok('rm', '-r', 'moved dir');
    await ok('rm', 'renamed.txt');
    expect((await ok('ls')).split('\n').filter(Boolean)).toEqual(['tree/']);

    expect(await gws('ls', 'nothing-here')).toMatchObject({ code: 1, stderr: 'gws: /gateway/a/docs/nothing-here: no such file or folder\n' });
    expect((await gws('no-such-command')).code).toBe(2);
  });

  it('resumes an interrupted large upload where it stopped', async () => {
    const local = path.join(dir, 'local', 'other.bin');
    const uploads = path.join(path.dirname(config), 'uploads');
    const first = gwsProcess(['--limit-rate', '8M', 'upload', local, '/gateway/a/docs']);
    // Kill it once the state file records two sent segments (of eight).
    await waitFor(() => resumeStates(uploads).some((s) => s.sent.length >= 2), 'two segments to be sent', 30_000);
    first.child.kill('SIGKILL');
    await first.done;
    expect(await ok('ls', '/gateway/a/docs')).not.toContain('other.bin');

    const second = await ok('upload', local, '/gateway/a/docs');
    expect(second).toMatch(/resuming upload of .*other\.bin: [2-7] of 8 segments already sent/);
    expect(await readdir(uploads)).toEqual([]);
    const back = path.join(dir, 'back-other');
    await mkdir(back);
    await ok('download', '/gateway/a/docs/other.bin', back);
    expect(await sha256OfFile(path.join(back, 'other.bin'))).toBe(await sha256OfFile(local));
  });

  it('resumes an interrupted download with a byte range', async () => {
    const into = path.join(dir, 'resume-down');
    await mkdir(into);
    // The partial file has a name nobody could have guessed (and planted a link at).
    const partialFile = () => readdirSync(into).find((n) => /^other\.bin\.[0-9a-f]{16}\.gws-partial$/.test(n));
    const first = gwsProcess(['--limit-rate', '8M', 'download', '/gateway/a/docs/other.bin', into]);
    await waitFor(() => partialFile() !== undefined && statSync(path.join(into, partialFile()!)).size >= 10 * MiB, '10 MiB to arrive', 30_000);
    first.child.kill('SIGKILL');
    await first.done;
    const second = await gwsProcess(['--progress', 'download', '/gateway/a/docs/other.bin', into]).done;
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/resuming download of other\.bin at byte \d+/);
    // --progress draws the bar without a terminal: it starts where the first run stopped and ends full.
    const bars = second.stderr.split(/[\r\n]+/).filter((l) => l.startsWith('download other.bin ['));
    expect(Number(/\] (\d+)% \|/.exec(bars[0]!)?.[1])).toBeGreaterThanOrEqual(25);
    expect(bars[bars.length - 1]).toMatch(/\] 100% \| 40\.0 MiB\/40\.0 MiB \|/);
    expect(await sha256OfFile(path.join(into, 'other.bin'))).toBe(await sha256OfFile(path.join(dir, 'local', 'other.bin')));
    expect(await readdir(into)).toEqual(['other.bin']);
  });
});

describe('gws at the prompt', () => {
  it('runs piped commands one per line', async () => {
    const r = await gwsProcess([], { stdin: 'cd /gateway/b\nls\npwd\nexit\n' }).done;
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['picture.png', 'tree/', '/gateway/b']));
  });

  it('completes remote paths with the tab key', async () => {
    const ws = await Workspace.open(new ConfigFile(config));
    await ws.setCwd('/gateway/b');
    const [mounts, word] = await complete(ws, 'ls /gateway/');
    expect([[...mounts].sort(), word]).toEqual([['/gateway/a/', '/gateway/b/', '/gateway/late/'], '/gateway/']);
    expect(await complete(ws, 'download tr')).toEqual([['tree/'], 'tr']);
    expect(await complete(ws, 'ls tree/s')).toEqual([[], 'tree/s']); // "sub dir/" needs quotes, so it is not offered bare
    expect(await complete(ws, 'ls tree/')).toEqual([['tree/a.txt'], 'tree/']);
    expect(await complete(ws, 'up')).toEqual([['upload'], 'up']);
  });
});

describe('gws sessions', () => {
  it('refreshes an expired access token without the user noticing, even in three commands at once', async () => {
    const before = (await readConfig()).mounts.late!;
    // ACCESS_TOKEN_TTL is 60 s: wait until the token "late" got at sign-in has expired.
    const wait = lateSignedInAt + 61_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // A refresh token works once (a second use ends the session), so the three must take turns, not race.
    const results = await Promise.all([gws('ls', '/gateway/late'), gws('ls', '/gateway/late/docs'), gws('stat', '/gateway/late/docs')]);
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(results[0].stdout).toContain('docs/');
    expect(await gws('ls', '/gateway/late')).toMatchObject({ code: 0, stderr: '' });
    const after = (await readConfig()).mounts.late!;
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
  }, 90_000);
});

/** The state files of interrupted uploads (a file being rewritten is skipped until next time). */
function resumeStates(folder: string): Array<{ sent: number[] }> {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(path.join(folder, f), 'utf8')) as { sent: number[] }];
      } catch {
        return [];
      }
    });
}
