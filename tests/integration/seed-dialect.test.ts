import { createHash } from 'node:crypto';
import sharp from 'sharp';
import request from 'supertest';
import { DIALECTS, FINAL, SEED, type Operation } from '../../src/http/dialects.js';
import { binary, idOf, keysUnder, seed as seedObjects, uniqueRoot } from '../support/api.js';
import { startTestGateway, TEST_PASSWORD, type TestGateway } from '../support/gateway.js';

const utf8Header = (fields: object) => Buffer.from(JSON.stringify(fields), 'utf8').toString('latin1');

let gw: TestGateway;
let root: string;
let token: string;
let refresh: string;

beforeAll(async () => {
  root = uniqueRoot('seed');
  gw = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { LIST_PAGE_SIZE: '2' } });
  const res = await request(gw.runtime.app).post('/v2/auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200);
  token = res.body['access.token'];
  refresh = res.body['refresh.token'];
});
afterAll(() => gw.close());

const app = () => gw.runtime.app;
const auth = (t = token) => ({ AUTHORIZATION: t }); // the seed's header, without "Bearer "
/** The bytes a seed GET answers with, as a Buffer. */
const bytesOf = (url: string) => request(app()).get(url).set(auth()).buffer(true).parse(binary).expect(200);
const keys = async (rel: string) => (await keysUnder(gw.bucket, root + rel)).map((k) => k.slice(root.length));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the seed dialect', () => {
  it('signs in with /v2/auth and answers with seed names', async () => {
    const res = await request(app()).post('/v2/auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200);
    expect(Object.keys(res.body).sort()).toEqual(['access.token', 'refresh.token', 'root.content.id']);
    expect(res.body['root.content.id']).toBe('root');
    await request(app()).post('/v2/auth').send({ user: 'tester', password: 'wrong-password' }).expect(403);
    const missing = await request(app()).post('/v2/auth').send({ user: 'tester' }).expect(400);
    expect(missing.body).toMatchObject({ error: 'invalid', field: 'password' });
  });

  it('refreshes with /v2/auth when refresh.token is present, rotating both tokens', async () => {
    const s = await request(app()).post('/v2/auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200);
    const r = await request(app()).post('/v2/auth').send({ 'refresh.token': s.body['refresh.token'] }).expect(200);
    expect(r.body['root.content.id']).toBe('root');
    expect(r.body['access.token']).not.toBe(s.body['access.token']);
    await request(app()).get('/v2/metadata/root').set(auth(s.body['access.token'])).expect(401);
    await request(app()).get('/v2/metadata/root').set(auth(r.body['access.token'])).expect(200);
    // used twice: refused, and the session ends
    await request(app()).post('/v2/auth').send({ 'refresh.token': s.body['refresh.token'] }).expect(403);
    await request(app()).get('/v2/metadata/root').set(auth(r.body['access.token'])).expect(401);
  });

  it('accepts AUTHORIZATION with or without Bearer', async () => {
    await request(app()).get('/v2/metadata/root').set('AUTHORIZATION', token).expect(200);
    await request(app()).get('/v2/metadata/root').set('AUTHORIZATION', `Bearer ${token}`).expect(200);
    await request(app()).get('/v2/metadata/root').expect(401);
  });

  it('makes folders, uploads with X-Upload-JSON, updates, lists with the page header, renames, moves, deletes', async () => {
    const folder = await request(app()).post('/v2/metadata_folder/root').set(auth()).send({ 'content.name': 'docs' }).expect(200);
    expect(folder.body).toMatchObject({ 'content.id': idOf('docs/'), 'content.type': 'folder', 'content.name': 'docs' });

    const bytes = Buffer.from('seed upload body');
    const up = await request(app())
      .post(`/v2/metadata_file/${idOf('docs/')}`)
      .set(auth())
      // The header's bytes are UTF-8 (a header string's characters go out as Latin-1 bytes).
      .set('X-Upload-JSON', utf8Header({ 'content.name': 'ü note.txt', 'file.modified': 1_600_000_000_000, 'file.size': bytes.length }))
      .send(bytes)
      .expect(200);
    expect(up.body).toEqual({
      'content.id': idOf('docs/ü note.txt'),
      'content.type': 'file',
      'content.name': 'ü note.txt',
      'file.modified': 1_600_000_000_000,
      'file.size': bytes.length,
      'file.etag': sha256(bytes),
    });
    const badSize = await request(app())
      .post(`/v2/metadata_file/${idOf('docs/')}`)
      .set(auth())
      .set('X-Upload-JSON', JSON.stringify({ 'content.name': 'x.txt', 'file.size': 'many' }))
      .send(bytes)
      .expect(400);
    expect(badSize.body.field).toBe('file.size');

    const v2 = Buffer.from('second version');
    const updated = await request(app())
      .put(`/v2/metadata/${up.body['content.id']}`)
      .set(auth())
      .set('X-Upload-JSON', JSON.stringify({ 'file.modified': 1_700_000_000_000, 'file.size': v2.length }))
      .send(v2)
      .expect(200);
    expect(updated.body).toMatchObject({ 'file.modified': 1_700_000_000_000, 'file.etag': sha256(v2) });

    await seedObjects(gw.bucket, [`${root}docs/a.txt`, `${root}docs/b.txt`, `${root}docs/c.txt`]);
    const names: string[] = [];
    let page: string | undefined;
    let pages = 0;
    do {
      const res = await request(app())
        .get(`/v2/metadata_children/${idOf('docs/')}${page ? `?page=${encodeURIComponent(page)}` : ''}`)
        .set(auth())
        .expect(200);
      pages++;
      names.push(...(res.body as Array<Record<string, string>>).map((e) => e['content.name']!));
      expect(res.headers['x-gateway-page']).toBeUndefined();
      page = res.headers.page;
    } while (page);
    expect(pages).toBe(3); // two per page; the first holds the folder's own marker, never listed
    expect(names.sort()).toEqual(['a.txt', 'b.txt', 'c.txt', 'ü note.txt']);

    const entry = await request(app())
      .get(`/v2/metadata/${idOf('docs/a.txt')}`)
      .set(auth())
      .expect(200);
    expect(entry.body['content.name']).toBe('a.txt');

    const renamed = await request(app())
      .patch(`/v2/metadata_name/${idOf('docs/a.txt')}`)
      .set(auth())
      .send({ 'content.name': 'renamed.txt' })
      .expect(200);
    expect(renamed.body).toMatchObject({ 'content.id': idOf('docs/renamed.txt'), 'content.name': 'renamed.txt', 'content.type': 'file' });
    const clash = await request(app())
      .patch(`/v2/metadata_name/${idOf('docs/b.txt')}`)
      .set(auth())
      .send({ 'content.name': 'c.txt' })
      .expect(409);
    expect(clash.body.field).toBe('content.name');

    await request(app()).post('/v2/metadata_folder/root').set(auth()).send({ 'content.name': 'archive' }).expect(200);
    const moved = await request(app())
      .patch(`/v2/metadata_parent/${idOf('docs/renamed.txt')}`)
      .set(auth())
      .send({ 'parent.content.id': idOf('archive/') })
      .expect(200);
    expect(moved.body['content.id']).toBe(idOf('archive/renamed.txt'));
    const noParent = await request(app())
      .patch(`/v2/metadata_parent/${idOf('docs/b.txt')}`)
      .set(auth())
      .send({})
      .expect(400);
    expect(noParent.body.field).toBe('parent.content.id');

    await request(app())
      .delete(`/v2/metadata/${idOf('docs/c.txt')}`)
      .set(auth())
      .expect(200);
    expect(await keys('')).toEqual(['archive/', 'archive/renamed.txt', 'docs/', 'docs/b.txt', 'docs/ü note.txt']);

    const download = await bytesOf(`/v2/file/${idOf('docs/ü note.txt')}`);
    expect((download.body as Buffer).toString()).toBe('second version');
  });

  it('makes thumbnails, and says 403 where there are none', async () => {
    const png = await sharp({ create: { width: 600, height: 300, channels: 3, background: { r: 9, g: 9, b: 9 } } })
      .png()
      .toBuffer();
    await request(app())
      .post('/v2/metadata_file/root')
      .set(auth())
      .set('X-Upload-JSON', JSON.stringify({ 'content.name': 'pic.png', 'file.size': png.length }))
      .send(png)
      .expect(200);
    const thumb = await bytesOf(`/v2/file_thumbnail/${idOf('pic.png')}`);
    expect((await sharp(thumb.body as Buffer).metadata()).width).toBe(256);
    await seedObjects(gw.bucket, [`${root}plain.txt`]);
    await request(app())
      .get(`/v2/file_thumbnail/${idOf('plain.txt')}`)
      .set(auth())
      .expect(403);
  });

  it('shares sessions, ids and errors with the final dialect', async () => {
    // a final-dialect session on seed routes, and the other way round
    const final = await request(app()).post('/v2/gateway_auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200);
    const a = await request(app())
      .get(`/v2/metadata/${idOf('archive/renamed.txt')}`)
      .set('Authorization', `Bearer ${final.body['gateway.auth.access.token']}`)
      .expect(200);
    const b = await request(app())
      .get(`/v2/gateway_metadata/${idOf('archive/renamed.txt')}`)
      .set(auth())
      .expect(200);
    expect(a.body['content.id']).toBe(b.body['gateway.metadata.id']);
    expect(a.body['file.modified']).toBe(b.body['gateway.metadata.modified']);
    expect(a.body['file.etag']).toBe(b.body['gateway.metadata.file.hash']);
    // a refresh token from one dialect refreshes in the other
    const viaSeed = await request(app()).post('/v2/auth').send({ 'refresh.token': final.body['gateway.auth.refresh.token'] }).expect(200);
    await request(app()).post('/v2/gateway_auth_access').send({ 'gateway.auth.refresh.token': viaSeed.body['refresh.token'] }).expect(200);
    // errors keep the one shape
    const missing = await request(app())
      .get(`/v2/metadata/${idOf('nope.txt')}`)
      .set(auth())
      .expect(404);
    expect(missing.body).toEqual({ error: 'not_found', status: 404, message: expect.any(String), requestId: missing.headers['x-request-id'] });
  });

  it.each([
    [
      400,
      'an upload header without file.size',
      () =>
        request(app())
          .post('/v2/metadata_file/root')
          .set(auth())
          .set('X-Upload-JSON', JSON.stringify({ 'content.name': 'x.txt' }))
          .send('x'),
      { error: 'invalid', message: 'file.size: is required', field: 'file.size' },
    ],
    [
      400,
      'a folder named ..',
      () => request(app()).post('/v2/metadata_folder/root').set(auth()).send({ 'content.name': '..' }),
      { error: 'invalid', message: 'content.name: must not be ".."', field: 'content.name' },
    ],
    [401, 'no token', () => request(app()).get('/v2/metadata/root'), { error: 'unauthorized', message: expect.stringMatching(/access token/i) }],
    [
      403,
      'renaming the root',
      () => request(app()).patch('/v2/metadata_name/root').set(auth()).send({ 'content.name': 'other' }),
      { error: 'forbidden', message: 'The root folder cannot be renamed, moved or deleted.' },
    ],
    [
      404,
      'a missing file',
      () =>
        request(app())
          .get(`/v2/metadata/${idOf('no/such.txt')}`)
          .set(auth()),
      { error: 'not_found', message: 'No such file or folder.' },
    ],
    [
      409,
      'a new folder where a file is',
      () => request(app()).post('/v2/metadata_folder/root').set(auth()).send({ 'content.name': 'conflict.txt' }),
      { error: 'conflict', message: 'content.name: a file with this name already exists here', field: 'content.name' },
    ],
  ])("answers %d for %s, with the one error shape and the seed's own field names", async (status, _what, send, shape) => {
    await seedObjects(gw.bucket, [`${root}conflict.txt`]);
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status, requestId: res.headers['x-request-id'], ...shape });
  });

  it('signs out with DELETE /v2/auth/<token>, at once, and 404 for an unknown token', async () => {
    const s = await request(app()).post('/v2/auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200);
    await request(app()).delete(`/v2/auth/${s.body['access.token']}`).expect(200);
    await request(app()).get('/v2/metadata/root').set(auth(s.body['access.token'])).expect(401);
    await request(app()).delete(`/v2/auth/${s.body['access.token']}`).expect(404);
    await request(app()).post('/v2/auth').send({ 'refresh.token': refresh }).expect(200); // another session is unaffected
  });
});

describe('dialects', () => {
  // What the founding document's draft could do, each of which both dialects must offer.
  const SHARED: Operation[] = ['signIn', 'signOut', 'download', 'thumbnail', 'list', 'entry', 'newFolder', 'remove', 'move', 'rename', 'uploadNew', 'update'];
  // Operations the draft did not have: refresh has its own route only in the final dialect.
  const FINAL_ONLY: Operation[] = ['signInMethod', 'refresh', 'startUpload', 'uploadSegment', 'finishNewUpload', 'finishUpdateUpload', 'cancelUpload'];

  it.each(DIALECTS.map((d) => [d.name, d] as const))('%s offers every shared operation', (_name, d) => {
    for (const op of SHARED) expect(d.routes[op]).toBeDefined();
  });

  it("differ only in the final dialect's additions", () => {
    expect(Object.keys(FINAL.routes).sort()).toEqual([...SHARED, ...FINAL_ONLY].sort());
    expect(Object.keys(SEED.routes).sort()).toEqual([...SHARED].sort());
    expect(SEED.refreshOnSignIn).toBe(true);
  });

  it('never map two operations of one dialect to the same method and path', () => {
    for (const d of DIALECTS) {
      const seen = Object.values(d.routes).map((r) => `${r.method} ${r.path}`);
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it.each(DIALECTS.map((d) => [d.name, d] as const))('%s routes all answer (none falls through to 404 "No such endpoint", none with 5xx)', async (_name, d) => {
    const answers = [];
    for (const route of Object.values(d.routes)) {
      const path = route.path.replace('{/:id}', '/root').replace(':id', 'root').replace(':token', 'x'.repeat(43));
      answers.push({ where: `${route.method} ${path}`, res: await request(app())[route.method](path) });
    }
    expect(answers.filter((a) => a.res.status >= 500).map((a) => a.where)).toEqual([]);
    // Without a session or a body nearly every route refuses: each refusal has the one shape, and is the route's own.
    const refusals = answers.filter((a) => a.res.status >= 400);
    expect(refusals.length).toBeGreaterThanOrEqual(answers.length - 2);
    for (const { where, res } of refusals) {
      const shape = {
        error: expect.any(String),
        status: res.status,
        message: expect.not.stringMatching(/No such endpoint/),
        requestId: res.headers['x-request-id'],
        ...(res.body.field ? { field: res.body.field } : {}),
      };
      expect({ where, body: res.body }).toEqual({ where, body: shape });
    }
  });
});
