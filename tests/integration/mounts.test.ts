import { createHash, randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import sharp from 'sharp';
import { spawnGws } from '../support/gws.js';
import { byName, binary, idOf, listAll, names, seed, keysUnder, signIn, uniqueRoot, type Client, type Json } from '../support/api.js';
import { startTestGateway, TEST_PASSWORD, type TestGateway } from '../support/gateway.js';
import { externalS3, waitFor } from '../support/processes.js';
import { s3Gate } from '../support/s3-gate.js';
import { EMBEDDED_CREDENTIALS } from '../../src/storage/s3/embedded.js';

/**
 * Team folders against two S3 servers at once: the gateway's own (the embedded one, or the RADOS Gateway
 * in the real-S3 run) and a second S3 process, reached through a gate that can make it fail.
 */

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let gw: TestGateway;
let other: Awaited<ReturnType<typeof externalS3>>;
let gate: Awaited<ReturnType<typeof s3Gate>>;
let dir: string;
let mountsFile: string;
let alice: Client;
let bob: Client;
let carol: Client;

const home = { alice: uniqueRoot('alice'), bob: uniqueRoot('bob') };
const teamPrefix = uniqueRoot('team');
const archivePrefix = uniqueRoot('archive');
const dropPrefix = uniqueRoot('drop');
const homes = uniqueRoot('homes');
const MiB = 1024 * 1024;

function mountsYaml(opts: { team: boolean }): string {
  return [
    `home: ${homes}{name}/`,
    'endpoints:',
    '  archive:',
    `    url: ${gate.url}`,
    `    accessKeyId: ${EMBEDDED_CREDENTIALS.accessKeyId}`,
    `    secretAccessKey: ${EMBEDDED_CREDENTIALS.secretAccessKey}`,
    'mounts:',
    ...(opts.team ? ['  - name: Team', `    prefix: ${teamPrefix}`, '    users: [alice, bob, carol]'] : []),
    '  - name: Archive',
    '    endpoint: archive',
    `    bucket: ${other.bucket}`,
    `    prefix: ${archivePrefix}`,
    '    readOnly: true',
    '    users: [alice]',
    '  - name: Drop',
    '    endpoint: archive',
    `    bucket: ${other.bucket}`,
    `    prefix: ${dropPrefix}`,
    '    users: [alice]',
    '',
  ].join('\n');
}

async function put(s3: S3Client, bucket: string, key: string, body: string) {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

async function otherKeys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await other.client.send(new ListObjectsV2Command({ Bucket: other.bucket, Prefix: prefix, ContinuationToken: token }));
    out.push(...(r.Contents ?? []).map((o) => o.Key!.slice(prefix.length)));
    token = r.NextContinuationToken;
  } while (token);
  return out.sort();
}

const upload = (c: Client, parentId: string, name: string, body: Buffer | string) =>
  c
    .post(`/v2/gateway_metadata_file/${parentId}`)
    .set(
      'X-Gateway-Upload',
      JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': Buffer.byteLength(body), 'gateway.metadata.modified': 1_700_000_000_000 }),
    )
    .set('Content-Type', 'application/octet-stream')
    .send(body);

const download = async (c: Client, id: string) => (await c.get(`/v2/gateway_file/${id}`).buffer(true).parse(binary).expect(200)).body as Buffer;

beforeAll(async () => {
  other = await externalS3('archive', { realS3: false });
  gate = await s3Gate(other.env.S3_ENDPOINT!);
  dir = await mkdtemp(path.join(tmpdir(), 'gw-mounts-'));
  mountsFile = path.join(dir, 'mounts.yaml');
  await writeFile(mountsFile, mountsYaml({ team: true }));
  gw = await startTestGateway({
    store: 'memory',
    users: [{ name: 'alice', root: home.alice }, { name: 'bob', root: home.bob }, { name: 'carol', root: '', home: false }, { name: 'dave' }],
    env: { MOUNTS_FILE: mountsFile, S3_MAX_ATTEMPTS: '2', METRICS_ENABLED: 'true', UPLOAD_PART_SIZE: String(5 * MiB), LIST_PAGE_SIZE: '100' },
  });
  await seed(gw.bucket, [`${home.alice}notes.txt`, `${home.alice}docs/a.txt`, `${home.alice}Team/hidden.txt`]);
  await put(other.client, other.bucket, `${archivePrefix}2019/report.txt`, 'the 2019 report');
  alice = await signIn(gw.runtime.app, 'alice');
  bob = await signIn(gw.runtime.app, 'bob');
  carol = await signIn(gw.runtime.app, 'carol');
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await gate?.close();
  await other?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('MOUNTS_FILE: shared folders at the root of the accounts they are granted to', () => {
  it('lists the home and, at its root, each mount granted (a mount hides a home folder of its name)', async () => {
    const root = await listAll(alice, 'root');
    expect(names(root.entries)).toEqual(['Archive', 'Drop', 'Team', 'docs', 'notes.txt']);
    expect(byName(root.entries, 'Team')).toMatchObject({
      'gateway.metadata.id': idOf('Team/'),
      'gateway.metadata.type': 'folder',
      'gateway.metadata.parent.id': 'root',
    });
    // bob sees only what is his and granted to him
    expect(names((await listAll(bob, 'root')).entries)).toEqual(['Team']);
    // inside a mount on the other server: ids carry the mount's name, entries are whole
    const archive = await listAll(alice, idOf('Archive/'));
    expect(archive.entries).toEqual([
      expect.objectContaining({ 'gateway.metadata.id': idOf('Archive/2019/'), 'gateway.metadata.parent.id': idOf('Archive/') }),
    ]);
    const report = await alice.get(`/v2/gateway_metadata/${idOf('Archive/2019/report.txt')}`).expect(200);
    expect(report.body).toMatchObject({
      'gateway.metadata.name': 'report.txt',
      'gateway.metadata.parent.id': idOf('Archive/2019/'),
      'gateway.metadata.file.size': 15,
    });
    expect((await download(alice, idOf('Archive/2019/report.txt'))).toString()).toBe('the 2019 report');
    // someone the mount is not granted to cannot reach it by its id
    await bob.get(`/v2/gateway_metadata_children/${idOf('Archive/')}`).expect(404);
    await bob.get(`/v2/gateway_file/${idOf('Archive/2019/report.txt')}`).expect(404);
  });

  it('refuses every write to a read-only mount, and to the mount folders themselves', async () => {
    const refused = await upload(alice, idOf('Archive/'), 'new.txt', 'x').expect(403);
    expect(refused.body.message).toMatch(/read-only/);
    await alice.post(`/v2/gateway_metadata_folder/${idOf('Archive/')}`, { 'gateway.metadata.name': 'sub' }).expect(403);
    await alice.del(`/v2/gateway_metadata/${idOf('Archive/2019/report.txt')}`).expect(403);
    await alice.put(`/v2/gateway_metadata_name/${idOf('Archive/2019/')}`, { 'new.gateway.metadata.name': 'old' }).expect(403);
    // the source of a move is written too (its file goes away)
    await alice.put(`/v2/gateway_metadata_parent/${idOf('Archive/2019/report.txt')}`, { 'new.gateway.metadata.parent.id': 'root' }).expect(403);
    for (const name of ['Team', 'Archive']) {
      await alice.put(`/v2/gateway_metadata_name/${idOf(`${name}/`)}`, { 'new.gateway.metadata.name': 'Other' }).expect(403);
      await alice.put(`/v2/gateway_metadata_parent/${idOf(`${name}/`)}`, { 'new.gateway.metadata.parent.id': idOf('docs/') }).expect(403);
      await alice.del(`/v2/gateway_metadata/${idOf(`${name}/`)}`).expect(403);
    }
    // a home item cannot take a mount's name at the top level
    await alice.put(`/v2/gateway_metadata_name/${idOf('docs/')}`, { 'new.gateway.metadata.name': 'Team' }).expect(409);
    await upload(alice, 'root', 'Drop', 'x').expect(409);
    expect(await otherKeys(archivePrefix)).toEqual(['2019/report.txt']);
    expect((await keysUnder(gw.bucket, home.alice)).sort()).toEqual([`${home.alice}Team/hidden.txt`, `${home.alice}docs/a.txt`, `${home.alice}notes.txt`]);
  });

  it('shares a read-write mount: what one account writes, the other reads, streamed and segmented alike', async () => {
    const streamed = await upload(alice, idOf('Team/'), 'plan.txt', 'from alice').expect(200);
    expect(streamed.body).toMatchObject({ 'gateway.metadata.id': idOf('Team/plan.txt'), 'gateway.metadata.parent.id': idOf('Team/') });
    expect(names((await listAll(bob, idOf('Team/'))).entries)).toContain('plan.txt');
    expect((await download(bob, idOf('Team/plan.txt'))).toString()).toBe('from alice');

    const body = randomBytes(70_000);
    const segment = { 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': body.length, 'gateway.upload.segment.sha256': sha256(body) };
    const target = {
      'gateway.metadata.parent.id': idOf('Team/'),
      'gateway.metadata.name': 'big.bin',
      'gateway.metadata.file.size': body.length,
      'gateway.metadata.modified': 1_650_000_000_000,
    };
    const started = await bob.post('/v2/gateway_upload', { ...target, 'gateway.upload.segment': [segment] }).expect(200);
    const uploadId = started.body['gateway.upload.id'] as string;
    const cookie = started.body['gateway.upload.cookie'] as string;
    // the upload belongs to bob, in the mount it started in
    await alice
      .post(`/v2/gateway_upload_segment/${uploadId}`)
      .set('X-Gateway-Upload-Segment', JSON.stringify({ ...segment, 'gateway.upload.cookie': cookie }))
      .send(body)
      .expect(404);
    const sent = await bob
      .post(`/v2/gateway_upload_segment/${uploadId}`)
      .set('X-Gateway-Upload-Segment', JSON.stringify({ ...segment, 'gateway.upload.cookie': cookie }))
      .send(body)
      .expect(200);
    const finished = await bob
      .post(`/v2/gateway_metadata_upload/${idOf('Team/')}`, {
        'gateway.metadata.name': 'big.bin',
        'gateway.metadata.modified': 1_650_000_000_000,
        'gateway.metadata.file.size': body.length,
        'gateway.upload.id': uploadId,
        'gateway.upload.segment': [sent.body],
        'gateway.upload.cookie': cookie,
      })
      .expect(200);
    expect(finished.body).toMatchObject({ 'gateway.metadata.id': idOf('Team/big.bin'), 'gateway.metadata.modified': 1_650_000_000_000 });
    expect(sha256(await download(alice, idOf('Team/big.bin')))).toBe(sha256(body));
    expect((await keysUnder(gw.bucket, teamPrefix)).sort()).toEqual([`${teamPrefix}big.bin`, `${teamPrefix}plan.txt`]);
  });

  it('works inside a mount as in the home: rename, delete, thumbnails, ranges, paging, and the seed dialect', async () => {
    const png = await sharp({ create: { width: 600, height: 300, channels: 3, background: { r: 9, g: 9, b: 9 } } })
      .png()
      .toBuffer();
    await upload(alice, idOf('Drop/'), 'pic.png', png).expect(200);
    const thumb = await alice
      .get(`/v2/gateway_file_thumbnail/${idOf('Drop/pic.png')}`)
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect((await sharp(thumb.body as Buffer).metadata()).width).toBe(256);
    const range = await alice
      .get(`/v2/gateway_file/${idOf('Drop/pic.png')}`)
      .set('Range', 'bytes=0-7')
      .buffer(true)
      .parse(binary)
      .expect(206);
    expect(range.body).toEqual(png.subarray(0, 8));
    const renamed = await alice.put(`/v2/gateway_metadata_name/${idOf('Drop/pic.png')}`, { 'new.gateway.metadata.name': 'picture.png' }).expect(200);
    expect(renamed.body).toMatchObject({ 'gateway.metadata.id': idOf('Drop/picture.png'), 'gateway.metadata.parent.id': idOf('Drop/') });
    await alice.post(`/v2/gateway_metadata_folder/${idOf('Drop/')}`, { 'gateway.metadata.name': 'f' }).expect(200);
    await alice.put(`/v2/gateway_metadata_name/${idOf('Drop/f/')}`, { 'new.gateway.metadata.name': 'g' }).expect(200);
    await alice.del(`/v2/gateway_metadata/${idOf('Drop/picture.png')}`).expect(200);
    await alice.del(`/v2/gateway_metadata/${idOf('Drop/g/')}`).expect(200);
    expect(await otherKeys(dropPrefix)).toEqual([]);
    // pages of a mount's folder (LIST_PAGE_SIZE is 100 here)
    await seed(
      gw.bucket,
      Array.from({ length: 250 }, (_, i) => `${teamPrefix}paged/p${String(i).padStart(3, '0')}`),
    );
    const paged = await listAll(bob, idOf('Team/paged/'));
    expect(paged.pages).toBe(3);
    expect(paged.entries.map((e) => e['gateway.metadata.id'])).toEqual(
      Array.from({ length: 250 }, (_, i) => idOf(`Team/paged/p${String(i).padStart(3, '0')}`)),
    );
    // the seed dialect sees the same tree
    const seedDialect = await request(gw.runtime.app)
      .get(`/v2/metadata_children/${idOf('Team/paged/')}`)
      .set('Authorization', `Bearer ${bob.token}`)
      .expect(200);
    expect(seedDialect.body[0]).toMatchObject({ 'content.id': idOf('Team/paged/p000'), 'content.name': 'p000' });
    await alice.del(`/v2/gateway_metadata/${idOf('Team/paged/')}`).expect(200);
  });

  it('gives an account without a home a top level of its mounts only, where nothing new may go', async () => {
    expect(names((await listAll(carol, 'root')).entries)).toEqual(['Team']);
    const refused = await carol.post('/v2/gateway_metadata_folder/root', { 'gateway.metadata.name': 'mine' }).expect(403);
    expect(refused.body.message).toMatch(/no folder of its own/);
    await upload(carol, 'root', 'mine.txt', 'x').expect(403);
    await upload(carol, idOf('Team/'), 'carol.txt', 'from carol').expect(200);
    await carol.get(`/v2/gateway_metadata/${idOf('notes.txt')}`).expect(404);
  });

  it("places an account that names no root at MOUNTS_FILE's home template", async () => {
    const dave = await signIn(gw.runtime.app, 'dave');
    await upload(dave, 'root', 'mine.txt', 'dave').expect(200);
    expect(await keysUnder(gw.bucket, homes)).toEqual([`${homes}dave/mine.txt`]);
    expect(names((await listAll(dave, 'root')).entries)).toEqual(['mine.txt']);
  });

  it('moves files and folders between mounts, and between a mount and the home, on one server and across two', async () => {
    await upload(alice, idOf('docs/'), 'move-me.txt', 'moving').expect(200);
    // home → mount on the other server (streamed through the gateway)
    const toDrop = await alice.put(`/v2/gateway_metadata_parent/${idOf('docs/move-me.txt')}`, { 'new.gateway.metadata.parent.id': idOf('Drop/') }).expect(200);
    expect(toDrop.body).toMatchObject({
      'gateway.metadata.id': idOf('Drop/move-me.txt'),
      'gateway.metadata.parent.id': idOf('Drop/'),
      'gateway.metadata.modified': 1_700_000_000_000,
    });
    expect(await otherKeys(dropPrefix)).toEqual(['move-me.txt']);
    await alice.get(`/v2/gateway_metadata/${idOf('docs/move-me.txt')}`).expect(404);
    // mount → mount on the gateway's own server (copied by S3)
    const toTeam = await alice.put(`/v2/gateway_metadata_parent/${idOf('Drop/move-me.txt')}`, { 'new.gateway.metadata.parent.id': idOf('Team/') }).expect(200);
    expect(toTeam.body).toMatchObject({ 'gateway.metadata.id': idOf('Team/move-me.txt'), 'gateway.metadata.modified': 1_700_000_000_000 });
    expect((await download(bob, idOf('Team/move-me.txt'))).toString()).toBe('moving');
    // a folder from the mount back to the home
    await alice.post(`/v2/gateway_metadata_folder/${idOf('Team/')}`, { 'gateway.metadata.name': 'sub' }).expect(200);
    await alice.put(`/v2/gateway_metadata_parent/${idOf('Team/move-me.txt')}`, { 'new.gateway.metadata.parent.id': idOf('Team/sub/') }).expect(200);
    const folder = await alice.put(`/v2/gateway_metadata_parent/${idOf('Team/sub/')}`, { 'new.gateway.metadata.parent.id': 'root' }).expect(200);
    expect(folder.body).toMatchObject({ 'gateway.metadata.id': idOf('sub/'), 'gateway.metadata.parent.id': 'root' });
    expect((await download(alice, idOf('sub/move-me.txt'))).toString()).toBe('moving');
    expect(names((await listAll(bob, idOf('Team/'))).entries)).not.toContain('sub');
    // a file larger than a part goes across in a multipart upload, a part at a time, and is whole
    const large = randomBytes(6 * MiB + 123);
    await upload(alice, idOf('Team/'), 'large.bin', large).expect(200);
    await alice.put(`/v2/gateway_metadata_parent/${idOf('Team/large.bin')}`, { 'new.gateway.metadata.parent.id': idOf('Drop/') }).expect(200);
    expect(sha256(await download(alice, idOf('Drop/large.bin')))).toBe(sha256(large));
    expect(await otherKeys(dropPrefix)).toEqual(['large.bin']);
    // each endpoint's calls are counted under its own label
    const metrics = (await request(gw.runtime.app).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/gateway_s3_requests_total\{operation="UploadPart",outcome="ok",endpoint="archive"\} [1-9]/);
    expect(metrics).toMatch(/gateway_s3_requests_total\{operation="CopyObject",outcome="ok",endpoint="default"\} [1-9]/);
    // the name is taken at the target: 409, nothing moves
    await upload(alice, idOf('Drop/'), 'notes.txt', 'another').expect(200);
    await alice.put(`/v2/gateway_metadata_parent/${idOf('notes.txt')}`, { 'new.gateway.metadata.parent.id': idOf('Drop/') }).expect(409);
    await alice.get(`/v2/gateway_metadata/${idOf('notes.txt')}`).expect(200);
  });

  it('moves a 300-object folder to another server: an S3 failure half-way loses nothing, and the repeat finishes', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `${teamPrefix}batch/f${String(i).padStart(3, '0')}.txt`);
    await seed(gw.bucket, keys, { body: 'same bytes' });
    const expected = keys.map((k) => k.slice(`${teamPrefix}batch/`.length)).sort();
    let puts = 0;
    const healed = gate.fail((c) => c.operation === 'PutObject' && c.key.startsWith(`${dropPrefix}batch/`) && ++puts > 150, 500, 'InternalError');
    const failed = await alice.put(`/v2/gateway_metadata_parent/${idOf('Team/batch/')}`, { 'new.gateway.metadata.parent.id': idOf('Drop/') });
    healed();
    expect(failed.status).toBeGreaterThanOrEqual(500);
    // nothing lost: every source is still there; part of the target is made
    expect((await keysUnder(gw.bucket, `${teamPrefix}batch/`)).length).toBe(300);
    const half = await otherKeys(`${dropPrefix}batch/`);
    expect(half.length).toBeGreaterThanOrEqual(150);
    expect(half.length).toBeLessThan(300);

    const done = await alice.put(`/v2/gateway_metadata_parent/${idOf('Team/batch/')}`, { 'new.gateway.metadata.parent.id': idOf('Drop/') }).expect(200);
    expect(done.body).toMatchObject({ 'gateway.metadata.id': idOf('Drop/batch/'), 'gateway.metadata.type': 'folder' });
    expect(await otherKeys(`${dropPrefix}batch/`)).toEqual(expected);
    expect(await keysUnder(gw.bucket, `${teamPrefix}batch/`)).toEqual([]);
    const one = await other.client.send(new GetObjectCommand({ Bucket: other.bucket, Key: `${dropPrefix}batch/f123.txt` }));
    expect(await one.Body!.transformToString()).toBe('same bytes');
    expect((await listAll(alice, idOf('Drop/batch/'))).entries).toHaveLength(300);
  }, 120_000);

  it('keeps the ids of home files when a mount is revoked and granted again, and a revoked mount is gone for open sessions', async () => {
    const before = (await listAll(alice, 'root')).entries;
    const homeIds = (entries: Json[]) =>
      entries
        .filter((e) => !['Team', 'Archive', 'Drop'].includes(e['gateway.metadata.name'] as string))
        .map((e) => [e['gateway.metadata.name'], e['gateway.metadata.id']])
        .sort();
    await writeFile(mountsFile, mountsYaml({ team: false }));
    await gw.runtime.reloadAccounts();
    const revoked = (await listAll(alice, 'root')).entries;
    // without the mount, the home folder it hid shows again, under the id it always had
    expect(byName(revoked, 'Team')).toMatchObject({ 'gateway.metadata.id': idOf('Team/') });
    expect((await listAll(alice, idOf('Team/'))).entries.map((e) => e['gateway.metadata.name'])).toEqual(['hidden.txt']);
    await bob.get(`/v2/gateway_metadata_children/${idOf('Team/')}`).expect(404);
    await bob.get(`/v2/gateway_file/${idOf('Team/plan.txt')}`).expect(404);
    expect(homeIds(revoked.filter((e) => e['gateway.metadata.name'] !== 'Team'))).toEqual(homeIds(before));

    await writeFile(mountsFile, mountsYaml({ team: true }));
    await gw.runtime.reloadAccounts();
    const granted = (await listAll(alice, 'root')).entries;
    expect(homeIds(granted)).toEqual(homeIds(before));
    expect((await download(bob, idOf('Team/plan.txt'))).toString()).toBe('from alice');
  });

  it('lets the Gateway Shell list, upload and move across mounts', async () => {
    const server = http.createServer(gw.runtime.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = path.join(dir, 'gws', 'config.json');
    const gws = async (...args: string[]) => {
      const r = await spawnGws(args, { cwd: dir, config }).done;
      expect(r).toMatchObject({ code: 0, stderr: '' });
      return r.stdout;
    };
    try {
      await gws('mounts', 'add', 'corp', url, '--field', 'user=alice', '--field', `password=${TEST_PASSWORD}`);
      expect((await gws('ls', '/gateway/corp')).split('\n')).toEqual(expect.arrayContaining(['Archive/', 'Drop/', 'Team/', 'docs/']));
      await writeFile(path.join(dir, 'from-gws.txt'), 'sent by gws');
      await gws('upload', path.join(dir, 'from-gws.txt'), '/gateway/corp/Team');
      expect((await download(bob, idOf('Team/from-gws.txt'))).toString()).toBe('sent by gws');
      await gws('mv', '/gateway/corp/Team/from-gws.txt', '/gateway/corp/Drop');
      expect((await gws('ls', '/gateway/corp/Drop')).split('\n')).toContain('from-gws.txt');
      expect(await otherKeys(dropPrefix)).toContain('from-gws.txt');
      await bob.get(`/v2/gateway_metadata/${idOf('Team/from-gws.txt')}`).expect(404);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 60_000);

  it('marks only the mounts of a stopped server unavailable: 503 there, the rest keeps working', async () => {
    await other.stop();
    const res = await alice.get(`/v2/gateway_metadata_children/${idOf('Drop/')}`);
    expect(res.status).toBe(503);
    await alice.get(`/v2/gateway_metadata_children/${idOf('Team/')}`).expect(200);
    expect(names((await listAll(alice, 'root')).entries)).toContain('Drop');
    const ready = await request(gw.runtime.app).get('/readyz').expect(200);
    expect(ready.body.checks.s3).toBe('ok');
    expect(ready.body.checks['mounts:default']).toBe('ok');
    expect(ready.body.checks['mounts:archive']).not.toBe('ok');
    await waitFor(async () => (await alice.get(`/v2/gateway_metadata/${idOf('notes.txt')}`)).status === 200, 'the home to answer');
  }, 60_000);
});
