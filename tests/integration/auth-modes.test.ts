import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { decodeJwt, SignJWT } from 'jose';
import request from 'supertest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/storage/s3/embedded.js';
import type { EmbeddedKey } from '../../src/storage/s3/embedded-auth.js';
import { RedisSessionStore } from '../../src/storage/session-store/redis.js';
import { idOf, listAll, names, signInWith, type Json } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { recordSecrets } from '../support/log-audit.js';
import { describeWithRedis, testRedisUrl } from '../support/targets.js';

/** Key pairs of the embedded S3 server, which checks every signature; `reader` may only read. */
const PAIRS: Record<string, EmbeddedKey> = {
  'alice-key': { secret: 'alice-secret-0123456789', readOnly: false },
  'bob-key': { secret: 'bob-secret-0123456789', readOnly: false },
  'reader-key': { secret: 'reader-secret-0123456789', readOnly: true },
};
const CELLS_SECRET = 'gatewaysecret';
recordSecrets(CELLS_SECRET, ...Object.values(PAIRS).map((p) => p.secret));

const jwtKey = randomBytes(32);
const cellsToken = (sub: string, expiresInSec: number) =>
  new SignJWT({ name: sub }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSec).sign(jwtKey);

/** The embedded server as Cells would answer: a JWT Cells signed and that has not expired is an access key. */
function keyOf(id: string): EmbeddedKey | undefined {
  if (PAIRS[id]) return PAIRS[id];
  const [header, payload, signature] = id.split('.');
  if (createHmac('sha256', jwtKey).update(`${header}.${payload}`).digest('base64url') !== signature) return undefined;
  try {
    const exp = decodeJwt(id).exp;
    return exp === undefined || exp * 1000 > Date.now() ? { secret: CELLS_SECRET, readOnly: false } : undefined;
  } catch {
    return undefined;
  }
}

let dir: string;
let s3: EmbeddedS3;
const clientFor = (accessKeyId: string) =>
  new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey: PAIRS[accessKeyId]!.secret } });
const keysIn = async (bucket: string, prefix = '') =>
  ((await clientFor('alice-key').send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'auth-modes-'));
  s3 = await startEmbeddedS3(dir, { keys: keyOf });
  const admin = clientFor('alice-key');
  for (const Bucket of ['team-a', 'team-b', 'private']) await admin.send(new CreateBucketCommand({ Bucket }));
  admin.destroy();
});
afterAll(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

/** Settings that point a gateway at this file's embedded server, whatever S3 the rest of the suite runs on. */
const onEmbeddedS3 = (env: Record<string, string>) => ({
  S3_ENDPOINT: s3.endpoint,
  S3_ACCESS_KEY_ID: '',
  S3_SECRET_ACCESS_KEY: '',
  S3_BUCKET: '',
  S3_PROVIDER: 'other',
  ...env,
});

function upload(c: { post(url: string): request.Test }, parentId: string, name: string, body: string) {
  return c
    .post(`/v2/gateway_metadata_file/${parentId}`)
    .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': encodeURIComponent(name), 'gateway.metadata.modified': 1700000000000, 'gateway.metadata.file.size': Buffer.byteLength(body) }))
    .send(body);
}

describe('AUTH_MODE=s3: people sign in with their own S3 keys', () => {
  let gw: TestGateway;
  const env = () => onEmbeddedS3({ AUTH_MODE: 's3', S3_BUCKETS: 'team-a,team-b' });
  const keys = (who: keyof typeof PAIRS, bucket?: string) => ({
    access_key_id: who,
    secret_access_key: PAIRS[who]!.secret,
    ...(bucket ? { bucket } : {}),
  });
  beforeAll(async () => {
    gw = await startTestGateway({ store: 'memory', env: env() });
  });
  afterAll(() => gw.close());

  it('asks for an access key, a secret and, with S3_BUCKETS, a bucket', async () => {
    const res = await request(gw.runtime.app).get('/v2/gateway_auth_method').expect(200);
    const fields = (res.body['gateway.auth.form'] as Json[]).map((f) => [f['gateway.auth.form.input.field.name'], f['gateway.auth.form.input.field.required']]);
    expect(fields).toEqual([
      ['access_key_id', true],
      ['secret_access_key', true],
      ['bucket', false],
    ]);
  });

  it.each([
    [{ secret_access_key: 'x' }, 'access_key_id'],
    [{ access_key_id: 'alice-key' }, 'secret_access_key'],
    [{ access_key_id: 'alice-key', secret_access_key: 7 }, 'secret_access_key'],
  ])('answers 400 naming a missing or malformed field (%j)', async (body, field) => {
    const res = await request(gw.runtime.app).post('/v2/gateway_auth').send(body).expect(400);
    expect(res.body).toMatchObject({ field });
    expect(res.body.message).toContain(field);
  });

  it('refuses a wrong secret, an unknown key and a bucket not on the list with 403', async () => {
    const app = gw.runtime.app;
    const wrong = await request(app).post('/v2/gateway_auth').send({ access_key_id: 'alice-key', secret_access_key: 'not-the-secret' }).expect(403);
    expect(wrong.body.message).toMatch(/Invalid credential/);
    await request(app).post('/v2/gateway_auth').send({ access_key_id: 'mallory', secret_access_key: 'whatever' }).expect(403);
    const bucket = await request(app).post('/v2/gateway_auth').send(keys('alice-key', 'private')).expect(403);
    expect(bucket.body).toMatchObject({ field: 'bucket' });
  });

  it('acts on S3 with the person’s keys, in the bucket they chose', async () => {
    const alice = await signInWith(gw.runtime.app, keys('alice-key', 'team-b'));
    const folder = await alice.post(`/v2/gateway_metadata_folder/${alice.rootId}`, { 'gateway.metadata.name': 'plans' }).expect(200);
    await upload(alice, folder.body['gateway.metadata.id'], 'q1 + q2.txt', 'hello from alice').expect(200);
    expect(await keysIn('team-b', 'plans/')).toEqual(['plans/', 'plans/q1 + q2.txt']);
    expect(await keysIn('team-a', 'plans/')).toEqual([]);
    const file = await alice.get(`/v2/gateway_file/${idOf('plans/q1 + q2.txt')}`).expect(200);
    expect(file.text).toBe('hello from alice');
    const { entries } = await listAll(alice, folder.body['gateway.metadata.id'] as string);
    expect(names(entries)).toEqual(['q1 + q2.txt']);
  });

  it('gives one stable gateway.auth.id per endpoint, bucket and key, revealing neither key nor secret', async () => {
    const a1 = await signInWith(gw.runtime.app, keys('alice-key', 'team-a'));
    const a2 = await signInWith(gw.runtime.app, keys('alice-key'));
    const other = await signInWith(gw.runtime.app, keys('alice-key', 'team-b'));
    const bob = await signInWith(gw.runtime.app, keys('bob-key', 'team-a'));
    const id = a1.body['gateway.auth.id'] as string;
    expect(a2.body['gateway.auth.id']).toBe(id);
    expect(new Set([id, other.body['gateway.auth.id'], bob.body['gateway.auth.id']]).size).toBe(3);
    for (const c of [a1, a2, other, bob]) {
      const text = JSON.stringify(c.body);
      for (const p of Object.values(PAIRS)) expect(text).not.toContain(p.secret);
      expect(text).not.toMatch(/alice-key|bob-key/);
    }
  });

  it('reuses one S3 client per key pair across requests', async () => {
    const alice = await signInWith(gw.runtime.app, keys('alice-key', 'team-a'));
    const sessions = gw.runtime.services.sessions;
    const first = await sessions.authenticate(alice.token);
    const second = await sessions.authenticate(alice.token);
    expect(second.account.bucket).toBe(first.account.bucket);
    const bob = await sessions.authenticate((await signInWith(gw.runtime.app, keys('bob-key', 'team-a'))).token);
    expect(bob.account.bucket).not.toBe(first.account.bucket);
  });

  it('passes on S3’s refusal of a read-only key as 403 and writes nothing', async () => {
    const reader = await signInWith(gw.runtime.app, keys('reader-key', 'team-a'));
    await reader.get(`/v2/gateway_metadata_children/${reader.rootId}`).expect(200);
    const before = await keysIn('team-a');
    const folder = await reader.post(`/v2/gateway_metadata_folder/${reader.rootId}`, { 'gateway.metadata.name': 'nope' }).expect(403);
    expect(folder.body.message).toMatch(/access denied/i);
    await upload(reader, reader.rootId, 'nope.txt', 'not stored').expect(403);
    expect(await keysIn('team-a')).toEqual(before);
  });

  it('redirects downloads to URLs presigned with the person’s keys, which S3 checks', async () => {
    const redirecting = await startTestGateway({ store: 'memory', env: { ...env(), DOWNLOAD_MODE: 'redirect' } });
    try {
      const bob = await signInWith(redirecting.runtime.app, keys('bob-key', 'team-a'));
      await upload(bob, bob.rootId, 'presigned.txt', 'fetched straight from S3').expect(200);
      const res = await bob.get(`/v2/gateway_file/${idOf('presigned.txt')}`).expect(302);
      const url = res.headers.location as string;
      expect(url).toContain('X-Amz-Credential=bob-key');
      expect(await (await fetch(url)).text()).toBe('fetched straight from S3');
      expect((await fetch(url.replace('presigned.txt', 'other.txt'))).status).toBe(403);
    } finally {
      await redirecting.close();
    }
  });

  it('never logs a key pair', () => {
    const log = gw.logLines.join('\n');
    for (const p of Object.values(PAIRS)) expect(log).not.toContain(p.secret);
  });

  it('answers 503 at sign-in when S3 does not answer', async () => {
    const down = await startTestGateway({ store: 'memory', env: { ...env(), S3_ENDPOINT: 'http://127.0.0.1:9', S3_MAX_ATTEMPTS: '1' } });
    try {
      const res = await request(down.runtime.app).post('/v2/gateway_auth').send(keys('alice-key'));
      expect(res.body).toMatchObject({ status: 503 });
      expect(res.headers['retry-after']).toBeDefined();
    } finally {
      await down.close();
    }
  });

  describeWithRedis('with Redis', () => {
    let redisGw: TestGateway;
    beforeAll(async () => {
      redisGw = await startTestGateway({ store: 'redis', env: { ...env(), CREDENTIALS_KEY: randomBytes(32).toString('base64') } });
    });
    afterAll(() => redisGw.close());

    it('keeps the keys in the session store only sealed', async () => {
      const alice = await signInWith(redisGw.runtime.app, keys('alice-key', 'team-a'));
      await alice.get(`/v2/gateway_metadata_children/${alice.rootId}`).expect(200);
      const store = redisGw.runtime.store as RedisSessionStore;
      const prefix = redisGw.runtime.config.redis.keyPrefix;
      const raw = new RedisSessionStore({ url: testRedisUrl!, keyPrefix: '', commandTimeoutMs: 2000 });
      await raw.connect();
      try {
        const names = await raw.client.keys(`${prefix}*`);
        expect(names.length).toBeGreaterThan(0);
        const values = await Promise.all(names.map(async (k) => ((await raw.client.type(k)) === 'string' ? raw.client.get(k) : '')));
        const everything = names.join('\n') + values.join('\n');
        expect(everything).not.toContain(PAIRS['alice-key']!.secret);
        expect(everything).not.toContain('alice-key');
      } finally {
        await raw.close();
      }
      expect(store.kind).toBe('redis');
    });
  });
});

describe('AUTH_MODE=pydio: Pydio Cells’ io bucket, signed in with a Cells token', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // s3rver refuses to create a bucket with a two-letter name, which Cells has: make its folder directly.
    await mkdir(path.join(s3.directory, 'io'));
    const admin = clientFor('alice-key');
    for (const Key of ['personal-files/readme.md', 'common-files/shared/a.txt', 'common-files/shared/b.txt']) {
      await admin.send(new PutObjectCommand({ Bucket: 'io', Key, Body: `content of ${Key}` }));
    }
    admin.destroy();
    gw = await startTestGateway({
      store: 'memory',
      env: onEmbeddedS3({ AUTH_MODE: 'pydio', S3_PROVIDER: 'cells', PYDIO_TOKEN_MARGIN: '1', LIST_PAGE_SIZE: '2' }),
    });
  });
  afterAll(() => gw.close());

  it('asks only for the token', async () => {
    const res = await request(gw.runtime.app).get('/v2/gateway_auth_method').expect(200);
    expect((res.body['gateway.auth.form'] as Json[]).map((f) => f['gateway.auth.form.input.field.name'])).toEqual(['token']);
  });

  it('answers 400 for a token that is not a JWT and 403 for an expired one', async () => {
    const app = gw.runtime.app;
    const bad = await request(app).post('/v2/gateway_auth').send({ token: 'not-a-jwt' }).expect(400);
    expect(bad.body).toMatchObject({ field: 'token' });
    expect(bad.body.message).toMatch(/not a JWT/);
    await request(app).post('/v2/gateway_auth').send({ token: await cellsToken('alice', -10) }).expect(403);
  });

  it('lists the workspaces at the root and works in them without DeleteObjects, copy onto itself or HEAD on folders', async () => {
    const alice = await signInWith(gw.runtime.app, { token: await cellsToken('alice', 3600) });
    expect(gw.runtime.store.kind).toBe('memory');
    const root = await listAll(alice, alice.rootId);
    expect(names(root.entries)).toEqual(['common-files', 'personal-files']);

    // the server cuts listings at max-keys without a token: the gateway pages itself (LIST_PAGE_SIZE=2)
    await upload(alice, idOf('common-files/shared/'), 'c.txt', 'third').expect(200);
    const shared = await listAll(alice, idOf('common-files/shared/'));
    expect(names(shared.entries)).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect(shared.pages).toBe(2);

    // a new folder, then rename and delete it: copies, then deletes one by one
    const made = await alice.post(`/v2/gateway_metadata_folder/${idOf('personal-files/')}`, { 'gateway.metadata.name': 'drafts', 'gateway.metadata.modified': 1600000000000 }).expect(200);
    await upload(alice, made.body['gateway.metadata.id'], 'one.txt', 'one').expect(200);
    await upload(alice, made.body['gateway.metadata.id'], 'two.txt', 'two').expect(200);
    await alice.put(`/v2/gateway_metadata_name/${idOf('personal-files/drafts/')}`, { 'new.gateway.metadata.name': 'final' }).expect(200);
    expect(await keysIn('io', 'personal-files/')).toEqual(['personal-files/final/', 'personal-files/final/one.txt', 'personal-files/final/two.txt', 'personal-files/readme.md']);
    const entry = await alice.get(`/v2/gateway_metadata/${idOf('personal-files/final/')}`).expect(200);
    expect(entry.body['gateway.metadata.type']).toBe('folder');
    await alice.del(`/v2/gateway_metadata/${idOf('personal-files/final/')}`).expect(200);
    expect(await keysIn('io', 'personal-files/')).toEqual(['personal-files/readme.md']);
  });

  it('keeps one gateway.auth.id for one person across tokens', async () => {
    const first = await signInWith(gw.runtime.app, { token: await cellsToken('alice', 3600) });
    const second = await signInWith(gw.runtime.app, { token: await cellsToken('alice', 7200) });
    const bob = await signInWith(gw.runtime.app, { token: await cellsToken('bob', 3600) });
    expect(second.body['gateway.auth.id']).toBe(first.body['gateway.auth.id']);
    expect(bob.body['gateway.auth.id']).not.toBe(first.body['gateway.auth.id']);
  });

  it('answers 401 once the token is about to expire, before any work, and says refresh cannot help', async () => {
    // valid for 3 s; the margin is 1 s, so after 2.2 s no request may start with it
    const short = await signInWith(gw.runtime.app, { token: await cellsToken('carol', 3) });
    await short.get(`/v2/gateway_metadata_children/${short.rootId}`).expect(200);
    await new Promise((r) => setTimeout(r, 2200));
    const res = await short.get(`/v2/gateway_metadata_children/${short.rootId}`).expect(401);
    expect(res.body.message).toMatch(/Cells token has expired.*refreshing cannot renew/);
    const refreshed = await request(gw.runtime.app)
      .post('/v2/gateway_auth_access')
      .send({ 'gateway.auth.refresh.token': short.body['gateway.auth.refresh.token'] })
      .expect(401);
    expect(refreshed.body.message).toMatch(/refreshing cannot renew/);
  });

  it('never logs a Cells token', async () => {
    const token = await cellsToken('dave', 3600);
    await signInWith(gw.runtime.app, { token });
    await request(gw.runtime.app).post('/v2/gateway_auth').send({ token: `${token}x` }).expect(403);
    const log = gw.logLines.join('\n');
    expect(log).not.toContain(token);
    expect(log).not.toContain(CELLS_SECRET);
  });
});
