import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { IMPLICIT_FOLDER_MODIFIED } from '../../src/core/file-system.js';
import { byName, idOf, keysUnder, listAll, names, seed, signIn, uniqueRoot, type Client, type Json } from '../support/api.js';
import { sameS3, startTestGateway, type TestGateway } from '../support/gateway.js';
import { addMiddleware, removeMiddleware } from '../support/s3-middleware.js';

let gw: TestGateway;
let root: string; // the test account's root prefix in the bucket
let c: Client;
let ro: Client;

beforeAll(async () => {
  root = uniqueRoot('fs');
  gw = await startTestGateway({
    store: 'memory',
    users: [
      { name: 'tester', root },
      { name: 'reader', root, readOnly: true },
    ],
  });
  c = await signIn(gw.runtime.app, 'tester');
  ro = await signIn(gw.runtime.app, 'reader');
});
afterAll(() => gw.close());

const bucket = () => gw.bucket;
/** Seeds keys relative to the account root. */
const put = (keys: string[], opts?: { body?: string; metadata?: Record<string, string> }) =>
  seed(
    bucket(),
    keys.map((k) => root + k),
    opts,
  );
const keys = async (rel: string) => (await keysUnder(bucket(), root + rel)).map((k) => k.slice(root.length));
const newFolder = (parentId: string, name: string, modified?: number) =>
  c.post(`/v2/gateway_metadata_folder/${parentId}`, { 'gateway.metadata.name': name, ...(modified ? { 'gateway.metadata.modified': modified } : {}) });

describe('ids', () => {
  it('encode the key relative to the root, URL-safe, the same in every session', async () => {
    await put(['ids/a file.txt']);
    const listed = byName((await listAll(c, idOf('ids/'))).entries, 'a file.txt')!;
    expect(listed['gateway.metadata.id']).toBe(idOf('ids/a file.txt'));
    expect(listed['gateway.metadata.id']).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(listed['gateway.metadata.parent.id']).toBe(idOf('ids/'));
    const other = await signIn(gw.runtime.app, 'tester');
    const again = await other.get(`/v2/gateway_metadata/${String(listed['gateway.metadata.id'])}`).expect(200);
    expect(again.body['gateway.metadata.id']).toBe(listed['gateway.metadata.id']);
  });

  it("give the root's children the root id as parent", async () => {
    await put(['top.txt']);
    const { entries } = await listAll(c, c.rootId);
    expect(byName(entries, 'top.txt')!['gateway.metadata.parent.id']).toBe(c.rootId);
    const rootEntry = await c.get(`/v2/gateway_metadata/${c.rootId}`).expect(200);
    expect(rootEntry.body).toMatchObject({ 'gateway.metadata.type': 'folder', 'gateway.metadata.parent.id': c.rootId });
  });

  it.each([
    ['not base64url', 'abc$def', 400],
    ['non-canonical base64url', `${idOf('ids/a file.txt').slice(0, -1)}z`, 400],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x41]).toString('base64url'), 400],
    ['a .. segment', idOf('../outside.txt'), 404],
    ['a nested .. segment', idOf('ids/../../x'), 404],
    ['a . segment', idOf('./top.txt'), 404],
    ['an empty segment', idOf('ids//a file.txt'), 404],
    ['a leading slash', idOf('/top.txt'), 404],
    ['a NUL', idOf('ids/a\0b'), 404],
    ['a key that does not exist', idOf('ids/never.txt'), 404],
  ])('refuse %s with %i and never data', async (_what, id, status) => {
    const res = await c.get(`/v2/gateway_metadata/${id}`).expect(status);
    expect(res.body).toMatchObject({
      error: status === 400 ? 'invalid' : 'not_found',
      status,
      message: status === 400 ? 'id: is not a valid id' : 'No such file or folder.',
      requestId: res.headers['x-request-id'],
    });
    await c.get(`/v2/gateway_metadata_children/${id}`).expect((r) => expect([400, 404]).toContain(r.status));
    await c.del(`/v2/gateway_metadata/${id}`).expect((r) => expect([400, 403, 404]).toContain(r.status));
  });

  it('cannot reach outside the account root, whatever the id', async () => {
    // A key beside the root, as another account's data would be.
    await seed(bucket(), [`${root.slice(0, -1)}-neighbour/secret.txt`]);
    for (const rel of ['../' + root.slice(0, -1) + '-neighbour/secret.txt', '..%2Fsecret.txt']) {
      await c.get(`/v2/gateway_metadata/${idOf(rel)}`).expect((r) => expect([400, 404]).toContain(r.status));
    }
  });
});

describe('listing', () => {
  // Seeding 2,500 objects into the embedded server takes a while on a loaded machine: a bound, not a benchmark.
  it('pages across 2,500 children with X-Gateway-Page, and omits the header on the last page', async () => {
    const children = Array.from({ length: 2500 }, (_, i) => `many/f${String(i).padStart(4, '0')}.txt`);
    await put(children, { body: 'x' });
    const { entries, pages } = await listAll(c, idOf('many/'));
    expect(pages).toBe(3);
    expect(entries).toHaveLength(2500);
    expect(new Set(entries.map((e) => e['gateway.metadata.id'])).size).toBe(2500);
    expect(names(entries)).toEqual(children.map((k) => k.slice('many/'.length)).sort());
  }, 120_000);

  it("lists files and sub-folders in one array, never the folder's own marker", async () => {
    await newFolder(c.rootId, 'mixed').expect(200);
    await put(['mixed/a.txt', 'mixed/sub/b.txt']);
    const { entries } = await listAll(c, idOf('mixed/'));
    expect(entries.map((e) => [e['gateway.metadata.name'], e['gateway.metadata.type']]).sort()).toEqual([
      ['a.txt', 'file'],
      ['sub', 'folder'],
    ]);
  });

  it('shows a folder that holds only sub-folders, as written by other S3 tools', async () => {
    await put(['deep/only/nested/file.txt']);
    const { entries } = await listAll(c, c.rootId);
    expect(entries.find((e) => e['gateway.metadata.name'] === 'deep')).toMatchObject({ 'gateway.metadata.type': 'folder' });
    expect(names((await listAll(c, idOf('deep/'))).entries)).toEqual(['only']);
  });

  it('keeps S3 byte order across pages where a file sorts beside a folder of the same stem', async () => {
    await put(['order/a.txt', 'order/a/x.txt', 'order/a-b.txt', 'order/b.txt', 'order/a0.txt']);
    const small = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { ...sameS3(gw), LIST_PAGE_SIZE: '1' } });
    try {
      const client = await signIn(small.runtime.app, 'tester');
      const { entries, pages } = await listAll(client, idOf('order/'));
      expect(pages).toBe(5);
      // '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30): the folder a/ sorts between a.txt and a0.txt
      expect(entries.map((e) => e['gateway.metadata.name'])).toEqual(['a-b.txt', 'a.txt', 'a', 'a0.txt', 'b.txt']);
    } finally {
      await small.close();
    }
  });

  it('answers 400 for a file and 404 for a missing folder', async () => {
    await put(['plain.txt']);
    const file = await c.get(`/v2/gateway_metadata_children/${idOf('plain.txt')}`).expect(400);
    expect(file.body.message).toMatch(/not a folder/);
    await c.get(`/v2/gateway_metadata_children/${idOf('nowhere/')}`).expect(404);
  });

  it('refuses a page token it did not make, or made for another folder, with 400', async () => {
    await c.get(`/v2/gateway_metadata_children/${idOf('many/')}?page=${encodeURIComponent('!!not a token!!')}`).expect(400);
    const first = await c.get(`/v2/gateway_metadata_children/${idOf('many/')}`).expect(200);
    const page = first.headers['x-gateway-page'] as string;
    await c.get(`/v2/gateway_metadata_children/${idOf('ids/')}?page=${encodeURIComponent(page)}`).expect(400);
    const [token, check] = page.split('.');
    const forged = `${Buffer.from('many/f0001.txt').toString('base64url')}.${check}`;
    expect(forged).not.toBe(`${token}.${check}`);
    await c.get(`/v2/gateway_metadata_children/${idOf('many/')}?page=${encodeURIComponent(forged)}`).expect(400);
  });
});

describe('folders that exist only as prefixes', () => {
  beforeAll(() => put(['implicit/deep/one.txt', 'implicit/two.txt']));

  it('are folders in listings and in get-entry, with a stable modified time', async () => {
    const rootList = await listAll(c, c.rootId);
    const folder = byName(rootList.entries, 'implicit')!;
    expect(folder).toMatchObject({ 'gateway.metadata.type': 'folder', 'gateway.metadata.id': idOf('implicit/') });
    expect(folder['gateway.metadata.modified']).toBe(IMPLICIT_FOLDER_MODIFIED);
    const entry = await c.get(`/v2/gateway_metadata/${idOf('implicit/deep/')}`).expect(200);
    expect(entry.body).toMatchObject({ 'gateway.metadata.name': 'deep', 'gateway.metadata.modified': IMPLICIT_FOLDER_MODIFIED });
  });

  it('can be renamed, moved and deleted', async () => {
    await put(['imp2/a/1.txt', 'imp2/a/2.txt', 'imp2/dest/keep.txt']);
    const renamed = await c.put(`/v2/gateway_metadata_name/${idOf('imp2/a/')}`, { 'new.gateway.metadata.name': 'b' }).expect(200);
    expect(renamed.body['gateway.metadata.id']).toBe(idOf('imp2/b/'));
    await c.put(`/v2/gateway_metadata_parent/${idOf('imp2/b/')}`, { 'new.gateway.metadata.parent.id': idOf('imp2/dest/') }).expect(200);
    expect(await keys('imp2/')).toEqual(['imp2/dest/b/1.txt', 'imp2/dest/b/2.txt', 'imp2/dest/keep.txt']);
    await c.del(`/v2/gateway_metadata/${idOf('imp2/dest/b/')}`).expect(200);
    expect(await keys('imp2/')).toEqual(['imp2/dest/keep.txt']);
  });

  it('recognises Hadoop-style `_$folder$` markers as folders, never as files', async () => {
    await put(['hadoop/data_$folder$'], { body: '' });
    const { entries } = await listAll(c, idOf('hadoop/'));
    expect(entries).toEqual([expect.objectContaining({ 'gateway.metadata.name': 'data', 'gateway.metadata.type': 'folder' })]);
    await c.get(`/v2/gateway_metadata/${idOf('hadoop/data/')}`).expect(200);
    await c.get(`/v2/gateway_metadata_children/${idOf('hadoop/data/')}`).expect(200, []);
  });
});

describe('new folders', () => {
  it("are zero-byte application/x-directory markers keeping the client's modified time", async () => {
    const res = await newFolder(c.rootId, 'made', 1_600_000_000_123).expect(200);
    expect(res.body).toEqual({
      'gateway.metadata.id': idOf('made/'),
      'gateway.metadata.parent.id': c.rootId,
      'gateway.metadata.type': 'folder',
      'gateway.metadata.name': 'made',
      'gateway.metadata.modified': 1_600_000_000_123,
    });
    const head = await bucket().client.send(new HeadObjectCommand({ Bucket: bucket().name, Key: `${root}made/` }));
    expect(head.ContentLength).toBe(0);
    expect(head.ContentType).toBe('application/x-directory');
    const listed = byName((await listAll(c, c.rootId)).entries, 'made')!;
    expect(listed['gateway.metadata.modified']).toBe(1_600_000_000_123);
    const entry = await c.get(`/v2/gateway_metadata/${idOf('made/')}`).expect(200);
    expect(entry.body['gateway.metadata.modified']).toBe(1_600_000_000_123);
  });

  it('answer 200 with the existing folder when it exists, and 409 when a file has the name', async () => {
    await newFolder(c.rootId, 'twice', 1_700_000_000_000).expect(200);
    const again = await newFolder(c.rootId, 'twice', 1_800_000_000_000).expect(200);
    expect(again.body['gateway.metadata.modified']).toBe(1_700_000_000_000);
    await put(['clash']);
    await newFolder(c.rootId, 'clash').expect(409);
  });

  it.each([
    [{}, /is required/],
    [{ 'gateway.metadata.name': '' }, /must not be empty/],
    [{ 'gateway.metadata.name': '.' }, /must not be "\."/],
    [{ 'gateway.metadata.name': '..' }, /must not be "\.\."/],
    [{ 'gateway.metadata.name': 'a/b' }, /must not contain "\/"/],
    [{ 'gateway.metadata.name': 42 }, /must be a string/],
    [{ 'gateway.metadata.name': 'x'.repeat(256) }, /256 bytes long in UTF-8; names may have at most 255/],
    [{ 'gateway.metadata.name': 'é'.repeat(128) }, /256 bytes long in UTF-8/],
    [{ 'gateway.metadata.name': 'ok', 'gateway.metadata.modified': 'yesterday' }, /gateway\.metadata\.modified/],
  ])('refuse %j with 400 naming the problem, writing nothing', async (body, message) => {
    const before = await keys('');
    const res = await c.post(`/v2/gateway_metadata_folder/${c.rootId}`, body).expect(400);
    expect(res.body).toEqual({
      error: 'invalid',
      status: 400,
      message: expect.stringMatching(message),
      field: expect.stringMatching(/^gateway\.metadata\.(name|modified)$/),
      requestId: res.headers['x-request-id'],
    });
    expect(res.body.message.startsWith(`${res.body.field}: `)).toBe(true);
    expect(await keys('')).toEqual(before);
  });

  it('refuse a name that would make the S3 key longer than 1024 bytes, and take one that fits exactly', async () => {
    // Four nested folders of 250-byte names, seeded straight into S3 as another tool could.
    const deep = `${['a', 'b', 'c', 'd'].map((l) => l.repeat(250)).join('/')}/`;
    await put([deep]);
    const room = 1024 - Buffer.byteLength(root + deep);
    const tooLong = await newFolder(idOf(deep), 'n'.repeat(room + 1)).expect(400);
    expect(tooLong.body).toMatchObject({ field: 'gateway.metadata.name', message: expect.stringMatching(/1026 bytes long; S3 allows 1024/) });
    // The folder's own key ends in "/", so a name one byte shorter fills the key to exactly 1024 bytes.
    await newFolder(idOf(deep), 'n'.repeat(room - 1)).expect(200);
    expect(await keys(deep)).toEqual([deep, `${deep}${'n'.repeat(room - 1)}/`]);
  });

  it('need an existing parent folder', async () => {
    await newFolder(idOf('no-such-parent/'), 'x').expect(404);
    await newFolder(idOf('plain.txt'), 'x').expect(400);
  });
});

describe('modified time and hash', () => {
  it("report the stored client time and sha256 everywhere, and S3's time and ETag for foreign objects", async () => {
    const sha = 'a'.repeat(64);
    await put(['times/ours.txt'], { metadata: { 'gw-modified': '1234567890123', 'gw-sha256': sha } });
    await put(['times/foreign.txt']);
    const head = await bucket().client.send(new HeadObjectCommand({ Bucket: bucket().name, Key: `${root}times/foreign.txt` }));
    const { entries } = await listAll(c, idOf('times/'));
    const ours = byName(entries, 'ours.txt')!;
    const foreign = byName(entries, 'foreign.txt')!;
    expect(ours).toMatchObject({ 'gateway.metadata.modified': 1234567890123, 'gateway.metadata.file.hash': sha });
    expect(foreign['gateway.metadata.modified']).toBe(head.LastModified!.getTime());
    expect(foreign['gateway.metadata.file.hash']).toBe(head.ETag!.replaceAll('"', ''));
    for (const e of [ours, foreign]) {
      const got = await c.get(`/v2/gateway_metadata/${String(e['gateway.metadata.id'])}`).expect(200);
      expect(got.body).toEqual(e);
    }
    // unchanged by rename and move
    const renamed = await c.put(`/v2/gateway_metadata_name/${idOf('times/ours.txt')}`, { 'new.gateway.metadata.name': 'renamed.txt' }).expect(200);
    expect(renamed.body).toMatchObject({ 'gateway.metadata.modified': 1234567890123, 'gateway.metadata.file.hash': sha });
    await newFolder(idOf('times/'), 'sub').expect(200);
    const moved = await c.put(`/v2/gateway_metadata_parent/${idOf('times/renamed.txt')}`, { 'new.gateway.metadata.parent.id': idOf('times/sub/') }).expect(200);
    expect(moved.body).toMatchObject({ 'gateway.metadata.modified': 1234567890123, 'gateway.metadata.file.hash': sha });
    const listedAfter = byName((await listAll(c, idOf('times/sub/'))).entries, 'renamed.txt')!;
    expect(listedAfter).toEqual(moved.body);
  });

  it('never serves a changed object the cached value of its old version', async () => {
    await put(['times/changing.txt'], { metadata: { 'gw-modified': '1111111111111' } });
    expect(byName((await listAll(c, idOf('times/'))).entries, 'changing.txt')!['gateway.metadata.modified']).toBe(1111111111111);
    await put(['times/changing.txt'], { body: 'new content, new size', metadata: { 'gw-modified': '2222222222222' } });
    expect(byName((await listAll(c, idOf('times/'))).entries, 'changing.txt')!['gateway.metadata.modified']).toBe(2222222222222);
  });
});

describe('rename and move', () => {
  it('move a file with its content and metadata, and leave its folder in place', async () => {
    await put(['mv/only.txt'], { body: 'payload', metadata: { 'gw-modified': '1500000000000' } });
    await newFolder(c.rootId, 'mv-target').expect(200);
    const res = await c.put(`/v2/gateway_metadata_parent/${idOf('mv/only.txt')}`, { 'new.gateway.metadata.parent.id': idOf('mv-target/') }).expect(200);
    expect(res.body).toMatchObject({ 'gateway.metadata.id': idOf('mv-target/only.txt'), 'gateway.metadata.parent.id': idOf('mv-target/') });
    const obj = await bucket().client.send(new GetObjectCommand({ Bucket: bucket().name, Key: `${root}mv-target/only.txt` }));
    expect(await obj.Body!.transformToString()).toBe('payload');
    expect(obj.Metadata!['gw-modified']).toBe('1500000000000');
    // mv/ had no marker: it stays a folder, now empty, with the same modified time it showed
    const folder = await c.get(`/v2/gateway_metadata/${idOf('mv/')}`).expect(200);
    expect(folder.body['gateway.metadata.modified']).toBe(IMPLICIT_FOLDER_MODIFIED);
    expect(await keys('mv/')).toEqual(['mv/']);
  });

  it('rename and move a folder with 300 nested descendants, keys checked in S3', async () => {
    const tree = Array.from({ length: 300 }, (_, i) => `big/l1-${i % 3}/l2-${i % 7}/file-${i}.txt`);
    await put(tree);
    await newFolder(c.rootId, 'big-dest').expect(200);
    const renamed = await c.put(`/v2/gateway_metadata_name/${idOf('big/')}`, { 'new.gateway.metadata.name': 'big renamed' }).expect(200);
    expect(renamed.body).toMatchObject({ 'gateway.metadata.id': idOf('big renamed/'), 'gateway.metadata.type': 'folder' });
    expect(await keys('big/')).toEqual([]);
    expect(await keys('big renamed/')).toEqual(tree.map((k) => k.replace(/^big\//, 'big renamed/')).sort());
    const moved = await c.put(`/v2/gateway_metadata_parent/${idOf('big renamed/')}`, { 'new.gateway.metadata.parent.id': idOf('big-dest/') }).expect(200);
    expect(moved.body['gateway.metadata.parent.id']).toBe(idOf('big-dest/'));
    expect(await keys('big renamed/')).toEqual([]);
    expect(await keys('big-dest/')).toEqual(['big-dest/', ...tree.map((k) => k.replace(/^big\//, 'big-dest/big renamed/'))].sort());
  });

  it.each([
    ['rename onto an existing file', 409, () => c.put(`/v2/gateway_metadata_name/${idOf('conf/a.txt')}`, { 'new.gateway.metadata.name': 'b.txt' })],
    ['rename a file onto a folder name', 409, () => c.put(`/v2/gateway_metadata_name/${idOf('conf/a.txt')}`, { 'new.gateway.metadata.name': 'dir' })],
    ['rename a folder onto an existing folder', 409, () => c.put(`/v2/gateway_metadata_name/${idOf('conf/dir/')}`, { 'new.gateway.metadata.name': 'dir2' })],
    [
      'move onto an existing name',
      409,
      () => c.put(`/v2/gateway_metadata_parent/${idOf('conf/b.txt')}`, { 'new.gateway.metadata.parent.id': idOf('conf/dir2/') }),
    ],
    [
      'move a folder into itself',
      400,
      () => c.put(`/v2/gateway_metadata_parent/${idOf('conf/dir/')}`, { 'new.gateway.metadata.parent.id': idOf('conf/dir/') }),
    ],
    [
      'move a folder below itself',
      400,
      () => c.put(`/v2/gateway_metadata_parent/${idOf('conf/dir/')}`, { 'new.gateway.metadata.parent.id': idOf('conf/dir/inner/') }),
    ],
    ['move into a file', 400, () => c.put(`/v2/gateway_metadata_parent/${idOf('conf/b.txt')}`, { 'new.gateway.metadata.parent.id': idOf('conf/a.txt') })],
    [
      'move into a missing folder',
      404,
      () => c.put(`/v2/gateway_metadata_parent/${idOf('conf/b.txt')}`, { 'new.gateway.metadata.parent.id': idOf('conf/none/') }),
    ],
    ['move without a target', 400, () => c.put(`/v2/gateway_metadata_parent/${idOf('conf/b.txt')}`, {})],
    ['rename to ..', 400, () => c.put(`/v2/gateway_metadata_name/${idOf('conf/a.txt')}`, { 'new.gateway.metadata.name': '..' })],
    ['rename with a slash', 400, () => c.put(`/v2/gateway_metadata_name/${idOf('conf/a.txt')}`, { 'new.gateway.metadata.name': 'x/y' })],
    ['rename a missing file', 404, () => c.put(`/v2/gateway_metadata_name/${idOf('conf/gone.txt')}`, { 'new.gateway.metadata.name': 'z' })],
    ['rename the root', 403, () => c.put(`/v2/gateway_metadata_name/${c.rootId}`, { 'new.gateway.metadata.name': 'z' })],
  ])('%s → %i, changing nothing', async (_what, status, call) => {
    await put(['conf/a.txt', 'conf/b.txt', 'conf/dir/inner/x.txt', 'conf/dir2/y.txt', 'conf/dir2/b.txt']);
    const before = await keys('conf/');
    const res = await call().expect(status);
    const kinds: Record<number, string> = { 400: 'invalid', 403: 'forbidden', 404: 'not_found', 409: 'conflict' };
    expect(res.body).toMatchObject({ error: kinds[status], status, message: expect.any(String), requestId: res.headers['x-request-id'] });
    expect(await keys('conf/')).toEqual(before);
  });

  /** Runs `work` while every CopyObject after the first `n` gets a real S3 failure: 503 SlowDown. */
  async function withCopiesFailingAfter<T>(n: number, work: () => Promise<T>): Promise<T> {
    let copies = 0;
    const client = bucket().client;
    addMiddleware(
      client,
      (next, context) => async (args) => {
        if (context.commandName === 'CopyObjectCommand' && ++copies > n) {
          throw Object.assign(new Error('injected'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectCopyFailure' },
    );
    try {
      return await work();
    } finally {
      removeMiddleware(client, 'injectCopyFailure');
    }
  }

  it('lose nothing when S3 fails half-way through a folder move, and finish when the request is repeated', async () => {
    const tree = Array.from({ length: 60 }, (_, i) => `fault/src/f${i}.txt`);
    await put(tree);
    await newFolder(c.rootId, 'fault-dest').expect(200);
    const move = () => c.put(`/v2/gateway_metadata_parent/${idOf('fault/src/')}`, { 'new.gateway.metadata.parent.id': idOf('fault-dest/') });
    const failed = await withCopiesFailingAfter(25, () => move().expect(503));
    expect(failed.headers['retry-after']).toBe('5');
    expect(failed.body).toMatchObject({ error: 'unavailable', status: 503 });
    expect(await keys('fault/src/')).toEqual(tree.map((k) => k).sort());
    await move().expect(200);
    expect(await keys('fault/src/')).toEqual([]);
    expect(await keys('fault-dest/src/')).toEqual(tree.map((k) => k.replace('fault/', 'fault-dest/')).sort());
    // and once more: a repeat of the finished move is checked afresh, and its source is gone
    await move().expect(404);
    expect(await keys('fault-dest/src/')).toEqual(tree.map((k) => k.replace('fault/', 'fault-dest/')).sort());
  });

  it('try a folder job whose attempt failed again at the periodic look once its pause is over, from where it stopped', async () => {
    await put(Array.from({ length: 12 }, (_, i) => `retry/src/f${i}.txt`));
    await newFolder(c.rootId, 'retry-dest').expect(200);
    const move = () => c.put(`/v2/gateway_metadata_parent/${idOf('retry/src/')}`, { 'new.gateway.metadata.parent.id': idOf('retry-dest/') });
    await withCopiesFailingAfter(4, () => move().expect(503));
    const jobs = gw.runtime.folderJobs;
    const [job] = await jobs.activeIn(bucket().scope, true);
    expect(job).toMatchObject({ from: `${root}retry/src/`, to: `${root}retry-dest/src/`, failures: 1 });
    // Just failed: the look leaves it for now.
    expect(await jobs.takeOver()).toBe(0);
    expect(await keys('retry/src/')).toHaveLength(12);
    // Its pause over (as if its last attempt were a minute ago), the look takes it up.
    const recordKey = `fjob:${job!.id}`;
    await gw.runtime.store.set(recordKey, JSON.stringify({ ...job, beat: Date.now() - 60_000 }), 60_000);
    expect(await jobs.takeOver()).toBe(1);
    await jobs.idle();
    expect(await keys('retry/src/')).toEqual([]);
    expect(await keys('retry-dest/src/')).toHaveLength(12);
    expect(await jobs.activeIn(bucket().scope, true)).toEqual([]);
  });

  it("keep a folder move that failed half-way as its folders' job: other operations on them get 409, writes into them come after it", async () => {
    await put(Array.from({ length: 10 }, (_, i) => `again/src/f${i}.txt`));
    await newFolder(c.rootId, 'again-dest').expect(200);
    const move = () => c.put(`/v2/gateway_metadata_parent/${idOf('again/src/')}`, { 'new.gateway.metadata.parent.id': idOf('again-dest/') });
    const failed = await withCopiesFailingAfter(3, () => move().expect(503));
    expect(failed.body).toMatchObject({ error: 'unavailable' });
    // Another operation on the source or the target is refused while the job is recorded.
    expect((await c.del(`/v2/gateway_metadata/${idOf('again/src/')}`).expect(409)).body).toMatchObject({ error: 'conflict' });
    await c.put(`/v2/gateway_metadata_name/${idOf('again-dest/')}`, { 'new.gateway.metadata.name': 'other' }).expect(409);
    expect(await keys('again/src/')).toHaveLength(10);
    // A write into the source takes the job up (nobody works on it), waits for it, then finds its folder moved away.
    await newFolder(idOf('again/src/'), 'new').expect(404);
    expect(await keys('again/src/')).toEqual([]);
    expect(await keys('again-dest/src/')).toEqual(Array.from({ length: 10 }, (_, i) => `again-dest/src/f${i}.txt`).sort());
    // The folders are free again; a repeat of the finished move is checked afresh (its source is gone).
    await newFolder(idOf('again-dest/src/'), 'new').expect(200);
    await move().expect(404);
  });
});

describe('names', () => {
  const tricky = [
    'café NFC.txt'.normalize('NFC'),
    'café NFD.txt'.normalize('NFD'),
    '😀 emoji.txt',
    'with  spaces .txt',
    'plus+percent%hash#q?amp&eq=semi;.txt',
    'quote\'s "double".txt',
  ];

  it('round-trip exactly through folder creation, listing, rename and move', async () => {
    await newFolder(c.rootId, 'names').expect(200);
    for (const name of tricky) {
      const folder = await newFolder(idOf('names/'), `dir ${name}`).expect(200);
      expect(folder.body['gateway.metadata.name']).toBe(`dir ${name}`);
    }
    await put(tricky.map((n) => `names/${n}`));
    const listed = (await listAll(c, idOf('names/'))).entries;
    expect(names(listed)).toEqual([...tricky, ...tricky.map((n) => `dir ${n}`)].sort());
    // NFC and NFD spellings are different names, kept apart
    expect(byName(listed, 'café NFC.txt'.normalize('NFC'))!['gateway.metadata.id']).not.toBe(
      byName(listed, 'café NFD.txt'.normalize('NFD'))?.['gateway.metadata.id'],
    );
    for (const name of tricky) {
      const renamed = await c.put(`/v2/gateway_metadata_name/${idOf(`names/${name}`)}`, { 'new.gateway.metadata.name': `renamed ${name}` }).expect(200);
      expect(renamed.body['gateway.metadata.name']).toBe(`renamed ${name}`);
      await c
        .put(`/v2/gateway_metadata_parent/${renamed.body['gateway.metadata.id']}`, { 'new.gateway.metadata.parent.id': idOf(`names/dir ${name}/`) })
        .expect(200);
    }
    for (const name of tricky) {
      expect(await keys(`names/dir ${name}/`)).toEqual([`names/dir ${name}/`, `names/dir ${name}/renamed ${name}`]);
    }
    // a folder with such names moves as a whole
    await c.put(`/v2/gateway_metadata_name/${idOf('names/')}`, { 'new.gateway.metadata.name': 'names #2 & more' }).expect(200);
    expect((await keys('names #2 & more/')).length).toBe(tricky.length * 2 + 1);
  });
});

describe('delete', () => {
  it('deletes a 1,200-object subtree, all pages, and keeps the parent folder', async () => {
    const tree = Array.from({ length: 1200 }, (_, i) => `del/tree/d${i % 10}/f${i}.txt`);
    await put(tree);
    await c.del(`/v2/gateway_metadata/${idOf('del/tree/')}`).expect(200);
    expect(await keys('del/tree/')).toEqual([]);
    await c.get(`/v2/gateway_metadata/${idOf('del/')}`).expect(200);
    expect((await listAll(c, idOf('del/'))).entries).toEqual([]);
  });

  it('deletes a file; the last child leaves its folder listed; a second delete is 404', async () => {
    await newFolder(c.rootId, 'del2', 1_650_000_000_000).expect(200);
    await put(['del2/only.txt']);
    await c.del(`/v2/gateway_metadata/${idOf('del2/only.txt')}`).expect(200);
    await c.del(`/v2/gateway_metadata/${idOf('del2/only.txt')}`).expect(404);
    const folder = byName((await listAll(c, c.rootId)).entries, 'del2')!;
    expect(folder['gateway.metadata.modified']).toBe(1_650_000_000_000);
  });

  it('refuses to delete the root with 403', async () => {
    await c.del(`/v2/gateway_metadata/${c.rootId}`).expect(403);
  });
});

describe('read-only accounts', () => {
  it('can browse but get 403 on every write, and nothing changes', async () => {
    await put(['ro/file.txt']);
    const before = await keys('');
    await ro.get(`/v2/gateway_metadata_children/${idOf('ro/')}`).expect(200);
    const calls = [
      ro.post(`/v2/gateway_metadata_folder/${ro.rootId}`, { 'gateway.metadata.name': 'nope' }),
      ro.put(`/v2/gateway_metadata_name/${idOf('ro/file.txt')}`, { 'new.gateway.metadata.name': 'x' }),
      ro.put(`/v2/gateway_metadata_parent/${idOf('ro/file.txt')}`, { 'new.gateway.metadata.parent.id': ro.rootId }),
      ro.del(`/v2/gateway_metadata/${idOf('ro/file.txt')}`),
    ];
    for (const call of calls) expect((await call).status).toBe(403);
    expect(await keys('')).toEqual(before);
  });
});

describe('every browse call', () => {
  it('needs a session', async () => {
    const { default: request } = await import('supertest');
    await request(gw.runtime.app).get(`/v2/gateway_metadata_children/${c.rootId}`).expect(401);
    await request(gw.runtime.app).get('/v2/gateway_metadata/root').expect(401);
  });

  it('treats an empty id as the root', async () => {
    const a = await c.get('/v2/gateway_metadata_children').expect(200);
    const b = await c.get(`/v2/gateway_metadata_children/${c.rootId}`).expect(200);
    expect(names(a.body as Json[])).toEqual(names(b.body as Json[]));
  });
});
