import request from 'supertest';
import { idOf, seed, uniqueRoot } from '../support/api.js';
import { startTestGateway, TEST_PASSWORD, type TestGateway } from '../support/gateway.js';

/**
 * Core names a problem by what the field means; each dialect must name it its own way. Every refusal
 * below is provoked once per dialect, and the client must read its own field names in `field` and in the
 * message, never another dialect's. The names are spelled out here, not taken from the gateway's tables,
 * so a wrong table entry fails.
 */

type Names = Record<'name' | 'modified' | 'size' | 'sha256' | 'newName' | 'newParentId' | 'refreshToken' | 'uploadHeader', string>;
type Method = 'get' | 'post' | 'put' | 'patch';

/** A dialect as its clients know it, spelled out: routes (`:id` for the id), wire names, sign-in. */
interface Spelling {
  names: Names;
  /** Fields another dialect uses that this one must never show. */
  foreign: RegExp;
  routes: Record<'signIn' | 'refresh' | 'newFolder' | 'rename' | 'move' | 'upload' | 'list' | 'entry' | 'download', [Method, string]>;
  accessToken: string;
  authorization: (token: string) => Record<string, string>;
}

const SPELLINGS: Record<'final' | 'seed', Spelling> = {
  final: {
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
    routes: {
      signIn: ['post', '/v2/gateway_auth'],
      refresh: ['post', '/v2/gateway_auth_access'],
      newFolder: ['post', '/v2/gateway_metadata_folder/:id'],
      rename: ['put', '/v2/gateway_metadata_name/:id'],
      move: ['put', '/v2/gateway_metadata_parent/:id'],
      upload: ['post', '/v2/gateway_metadata_file/:id'],
      list: ['get', '/v2/gateway_metadata_children/:id'],
      entry: ['get', '/v2/gateway_metadata/:id'],
      download: ['get', '/v2/gateway_file/:id'],
    },
    accessToken: 'gateway.auth.access.token',
    authorization: (token) => ({ Authorization: `Bearer ${token}` }),
  },
  seed: {
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
    routes: {
      signIn: ['post', '/v2/auth'],
      refresh: ['post', '/v2/auth'],
      newFolder: ['post', '/v2/metadata_folder/:id'],
      rename: ['patch', '/v2/metadata_name/:id'],
      move: ['patch', '/v2/metadata_parent/:id'],
      upload: ['post', '/v2/metadata_file/:id'],
      list: ['get', '/v2/metadata_children/:id'],
      entry: ['get', '/v2/metadata/:id'],
      download: ['get', '/v2/file/:id'],
    },
    accessToken: 'access.token',
    // the seed's header, without "Bearer "
    authorization: (token) => ({ AUTHORIZATION: token }),
  },
};

/** Calls an operation of one dialect as a signed-in client of it. */
type Speaker = { names: Names; foreign: RegExp; call(op: keyof Spelling['routes'], id?: string): request.Test };

let gw: TestGateway;
const root = uniqueRoot('dialect-errors');
const speakers = {} as Record<'final' | 'seed', Speaker>;

beforeAll(async () => {
  gw = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }] });
  await seed(gw.bucket, [`${root}file.txt`, `${root}folder/`], { body: 'twelve bytes' });
  const app = gw.runtime.app;
  for (const [dialect, sp] of Object.entries(SPELLINGS) as Array<['final' | 'seed', Spelling]>) {
    const [method, path] = sp.routes.signIn;
    const token = (await request(app)[method](path).send({ user: 'tester', password: TEST_PASSWORD }).expect(200)).body[sp.accessToken] as string;
    speakers[dialect] = {
      names: sp.names,
      foreign: sp.foreign,
      call: (op, id = '') => {
        const [m, p] = sp.routes[op];
        const r = request(app)[m](p.replace(':id', id));
        return op === 'signIn' || op === 'refresh' ? r : r.set(sp.authorization(token));
      },
    };
  }
});
afterAll(() => gw.close());

const bytes = Buffer.from('hello');
const HEX = 'a'.repeat(64);
const upload = (s: Speaker, header: object) => s.call('upload', 'root').set(s.names.uploadHeader, JSON.stringify(header)).send(bytes);

/** Each refusal once, by meaning: which field the client must see, provoked in the speaker's dialect. */
const CASES: Array<[title: string, status: number, field: (s: Speaker) => string, provoke: (s: Speaker) => request.Test]> = [
  ['a new folder without a name', 400, (s) => s.names.name, (s) => s.call('newFolder', 'root').send({})],
  [
    'a new folder with a bad modified time',
    400,
    (s) => s.names.modified,
    (s) => s.call('newFolder', 'root').send({ [s.names.name]: 'x', [s.names.modified]: -1 }),
  ],
  ['a new folder named like a file', 409, (s) => s.names.name, (s) => s.call('newFolder', 'root').send({ [s.names.name]: 'file.txt' })],
  ['a rename to an empty name', 400, (s) => s.names.newName, (s) => s.call('rename', idOf('file.txt')).send({ [s.names.newName]: '' })],
  ['a rename onto a taken name', 409, (s) => s.names.newName, (s) => s.call('rename', idOf('file.txt')).send({ [s.names.newName]: 'folder' })],
  ['a move without a target', 400, (s) => s.names.newParentId, (s) => s.call('move', idOf('file.txt')).send({})],
  ['a move into a file', 400, (s) => s.names.newParentId, (s) => s.call('move', idOf('folder/')).send({ [s.names.newParentId]: idOf('file.txt') })],
  ['a refresh token that is not a string', 400, (s) => s.names.refreshToken, (s) => s.call('refresh').send({ [s.names.refreshToken]: 7 })],
  ['a refresh token that is not valid', 403, (s) => s.names.refreshToken, (s) => s.call('refresh').send({ [s.names.refreshToken]: 'x'.repeat(40) })],
  ['an upload without its header', 400, (s) => s.names.uploadHeader, (s) => s.call('upload', 'root').send(bytes)],
  ['an upload without a size', 400, (s) => s.names.size, (s) => upload(s, { [s.names.name]: 'a.txt' })],
  ['an upload whose size differs from its body', 400, (s) => s.names.size, (s) => upload(s, { [s.names.name]: 'a.txt', [s.names.size]: 9 })],
  ['an upload with a malformed sha256', 400, (s) => s.names.sha256, (s) => upload(s, { [s.names.name]: 'a.txt', [s.names.size]: 5, [s.names.sha256]: 'no' })],
  [
    'an upload whose body has another sha256',
    400,
    (s) => s.names.sha256,
    (s) => upload(s, { [s.names.name]: 'a.txt', [s.names.size]: 5, [s.names.sha256]: HEX }),
  ],
  [
    'an upload with a bad modified time',
    400,
    (s) => s.names.modified,
    (s) => upload(s, { [s.names.name]: 'a.txt', [s.names.size]: 5, [s.names.modified]: 'noon' }),
  ],
  ["an upload onto a folder's name", 409, (s) => s.names.name, (s) => upload(s, { [s.names.name]: 'folder', [s.names.size]: 5 })],
  ['an upload without a name', 400, (s) => s.names.name, (s) => upload(s, { [s.names.size]: 5 })],
  ['a malformed id', 400, () => 'id', (s) => s.call('entry', 'not*an*id')],
  ['a page token of another listing', 400, () => 'page', (s) => s.call('list', 'root').query({ page: 'forged' })],
  ['a range past the end', 416, () => 'Range', (s) => s.call('download', idOf('file.txt')).set('Range', 'bytes=100-200')],
  ['a sign-in without a password', 400, () => 'password', (s) => s.call('signIn').send({ user: 'tester' })],
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
