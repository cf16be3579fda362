import request from 'supertest';
import { idOf, seed, uniqueRoot } from '../support/api.js';
import { startTestGateway, TEST_PASSWORD, type TestGateway } from '../support/gateway.js';

/**
 * Core names a problem by what the field means; each dialect must name it its own way. Every refusal
 * below is provoked once per dialect, and the client must read its own field names in `field` and in the
 * message, never another dialect's. The names are spelled out here, not taken from the gateway's tables,
 * so a wrong table entry fails.
 */

interface Speaker {
  names: {
    name: string;
    modified: string;
    size: string;
    sha256: string;
    newName: string;
    newParentId: string;
    refreshToken: string;
    uploadHeader: string;
  };
  /** Fields another dialect uses that this one must never show. */
  foreign: RegExp;
  signIn(body: object): request.Test;
  refresh(body: object): request.Test;
  newFolder(parentId: string, body: object): request.Test;
  rename(id: string, body: object): request.Test;
  move(id: string, body: object): request.Test;
  upload(parentId: string, header: object | undefined, bytes: Buffer): request.Test;
  list(folderId: string, page: string): request.Test;
  entry(id: string): request.Test;
  download(id: string, range: string): request.Test;
}

let gw: TestGateway;
const root = uniqueRoot('dialect-errors');
const speakers: Record<'final' | 'seed', Speaker> = {} as never;

beforeAll(async () => {
  gw = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }] });
  await seed(gw.bucket, [`${root}file.txt`, `${root}folder/`], { body: 'twelve bytes' });
  const app = gw.runtime.app;
  const finalToken = (await request(app).post('/v2/gateway_auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200)).body[
    'gateway.auth.access.token'
  ] as string;
  const seedToken = (await request(app).post('/v2/auth').send({ user: 'tester', password: TEST_PASSWORD }).expect(200)).body['access.token'] as string;
  const fa = { Authorization: `Bearer ${finalToken}` };
  const sa = { AUTHORIZATION: seedToken };
  speakers.final = {
    names: {
      name: 'gateway.metadata.name',
      modified: 'gateway.metadata.modified',
      size: 'gateway.metadata.file.size',
      sha256: 'gateway.metadata.file.sha256',
      newName: 'new.gateway.metadata.name',
      newParentId: 'new.gateway.metadata.parent.id',
      refreshToken: 'gateway.auth.refresh.token',
      uploadHeader: 'X-Gateway-Upload',
    },
    foreign: /(?<![\w.])(content\.|file\.(size|modified|sha256|etag)|refresh\.token)|X-Upload-JSON/,
    signIn: (b) => request(app).post('/v2/gateway_auth').send(b),
    refresh: (b) => request(app).post('/v2/gateway_auth_access').send(b),
    newFolder: (p, b) => request(app).post(`/v2/gateway_metadata_folder/${p}`).set(fa).send(b),
    rename: (id, b) => request(app).put(`/v2/gateway_metadata_name/${id}`).set(fa).send(b),
    move: (id, b) => request(app).put(`/v2/gateway_metadata_parent/${id}`).set(fa).send(b),
    upload: (p, h, bytes) => {
      const r = request(app).post(`/v2/gateway_metadata_file/${p}`).set(fa);
      return (h ? r.set('X-Gateway-Upload', JSON.stringify(h)) : r).send(bytes);
    },
    list: (id, page) => request(app).get(`/v2/gateway_metadata_children/${id}`).query({ page }).set(fa),
    entry: (id) => request(app).get(`/v2/gateway_metadata/${id}`).set(fa),
    download: (id, range) => request(app).get(`/v2/gateway_file/${id}`).set(fa).set('Range', range),
  };
  speakers.seed = {
    names: {
      name: 'content.name',
      modified: 'file.modified',
      size: 'file.size',
      sha256: 'file.sha256',
      newName: 'content.name',
      newParentId: 'parent.content.id',
      refreshToken: 'refresh.token',
      uploadHeader: 'X-Upload-JSON',
    },
    foreign: /gateway\.|X-Gateway-Upload/,
    signIn: (b) => request(app).post('/v2/auth').send(b),
    refresh: (b) => request(app).post('/v2/auth').send(b),
    newFolder: (p, b) => request(app).post(`/v2/metadata_folder/${p}`).set(sa).send(b),
    rename: (id, b) => request(app).patch(`/v2/metadata_name/${id}`).set(sa).send(b),
    move: (id, b) => request(app).patch(`/v2/metadata_parent/${id}`).set(sa).send(b),
    upload: (p, h, bytes) => {
      const r = request(app).post(`/v2/metadata_file/${p}`).set(sa);
      return (h ? r.set('X-Upload-JSON', JSON.stringify(h)) : r).send(bytes);
    },
    list: (id, page) => request(app).get(`/v2/metadata_children/${id}`).query({ page }).set(sa),
    entry: (id) => request(app).get(`/v2/metadata/${id}`).set(sa),
    download: (id, range) => request(app).get(`/v2/file/${id}`).set(sa).set('Range', range),
  };
});
afterAll(() => gw.close());

const bytes = Buffer.from('hello');
const HEX = 'a'.repeat(64);

/** Each refusal once, by meaning: which field the client must see, provoked in the speaker's dialect. */
const CASES: Array<[title: string, status: number, field: (s: Speaker) => string, provoke: (s: Speaker) => request.Test]> = [
  ['a new folder without a name', 400, (s) => s.names.name, (s) => s.newFolder('root', {})],
  ['a new folder with a bad modified time', 400, (s) => s.names.modified, (s) => s.newFolder('root', { [s.names.name]: 'x', [s.names.modified]: -1 })],
  ['a new folder named like a file', 409, (s) => s.names.name, (s) => s.newFolder('root', { [s.names.name]: 'file.txt' })],
  ['a rename to an empty name', 400, (s) => s.names.newName, (s) => s.rename(idOf('file.txt'), { [s.names.newName]: '' })],
  ['a rename onto a taken name', 409, (s) => s.names.newName, (s) => s.rename(idOf('file.txt'), { [s.names.newName]: 'folder' })],
  ['a move without a target', 400, (s) => s.names.newParentId, (s) => s.move(idOf('file.txt'), {})],
  ['a move into a file', 400, (s) => s.names.newParentId, (s) => s.move(idOf('folder/'), { [s.names.newParentId]: idOf('file.txt') })],
  ['a refresh token that is not a string', 400, (s) => s.names.refreshToken, (s) => s.refresh({ [s.names.refreshToken]: 7 })],
  ['a refresh token that is not valid', 403, (s) => s.names.refreshToken, (s) => s.refresh({ [s.names.refreshToken]: 'x'.repeat(40) })],
  ['an upload without its header', 400, (s) => s.names.uploadHeader, (s) => s.upload('root', undefined, bytes)],
  ['an upload without a size', 400, (s) => s.names.size, (s) => s.upload('root', { [s.names.name]: 'a.txt' }, bytes)],
  ['an upload whose size differs from its body', 400, (s) => s.names.size, (s) => s.upload('root', { [s.names.name]: 'a.txt', [s.names.size]: 9 }, bytes)],
  [
    'an upload with a malformed sha256',
    400,
    (s) => s.names.sha256,
    (s) => s.upload('root', { [s.names.name]: 'a.txt', [s.names.size]: 5, [s.names.sha256]: 'no' }, bytes),
  ],
  [
    'an upload whose body has another sha256',
    400,
    (s) => s.names.sha256,
    (s) => s.upload('root', { [s.names.name]: 'a.txt', [s.names.size]: 5, [s.names.sha256]: HEX }, bytes),
  ],
  [
    'an upload with a bad modified time',
    400,
    (s) => s.names.modified,
    (s) => s.upload('root', { [s.names.name]: 'a.txt', [s.names.size]: 5, [s.names.modified]: 'noon' }, bytes),
  ],
  ["an upload onto a folder's name", 409, (s) => s.names.name, (s) => s.upload('root', { [s.names.name]: 'folder', [s.names.size]: 5 }, bytes)],
  ['an upload without a name', 400, (s) => s.names.name, (s) => s.upload('root', { [s.names.size]: 5 }, bytes)],
  ['a malformed id', 400, () => 'id', (s) => s.entry('not*an*id')],
  ['a page token of another listing', 400, () => 'page', (s) => s.list('root', 'forged')],
  ['a range past the end', 416, () => 'Range', (s) => s.download(idOf('file.txt'), 'bytes=100-200')],
  ['a sign-in without a password', 400, () => 'password', (s) => s.signIn({ user: 'tester' })],
];

describe.each(['final', 'seed'] as const)('errors in the %s dialect', (dialect) => {
  it.each(CASES)('%s names its field the way this dialect does', async (_title, status, field, provoke) => {
    const s = speakers[dialect];
    const res = await provoke(s);
    expect({ status: res.status, field: res.body.field }).toEqual({ status, field: field(s) });
    expect(res.body.message.startsWith(`${field(s)}: `)).toBe(true);
    expect(JSON.stringify(res.body)).not.toMatch(s.foreign);
  });
});
