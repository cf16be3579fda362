import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { decodeJwt, SignJWT } from 'jose';
import request from 'supertest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/storage/s3/embedded.js';
import type { EmbeddedKey } from '../../src/storage/s3/embedded-auth.js';
import { RedisSessionStore } from '../../src/storage/session-store/redis.js';
import { CELLS_TOKEN_EXPIRED } from '../../src/core/auth/cells-sign-in.js';
import { idOf, listAll, names, signInWith, type Json } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { recordSecrets } from '../support/log-audit.js';
import { waitFor } from '../support/processes.js';
import { s3Gate } from '../support/s3-gate.js';
import { describeWithRedis, realS3, testRedisUrl } from '../support/targets.js';

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
  new SignJWT({ name: sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSec)
    .sign(jwtKey);

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

/** Every key under a prefix and every value it holds, whatever its type, as one text. */
async function everyKeyAndValue(prefix: string): Promise<string> {
  const raw = new RedisSessionStore({ url: testRedisUrl!, keyPrefix: '', commandTimeoutMs: 2000 });
  await raw.connect();
  try {
    const keys = await raw.client.keys(`${prefix}*`);
    const values = await Promise.all(
      keys.map(async (k) => {
        const type = await raw.client.type(k);
        if (type === 'string') return (await raw.client.get(k)) ?? '';
        if (type === 'hash')
          return Object.entries(await raw.client.hgetall(k))
            .flat()
            .join('\n');
        if (type === 'set') return (await raw.client.smembers(k)).join('\n');
        if (type === 'zset') return (await raw.client.zrange(k, '0', '-1')).join('\n');
        if (type === 'list') return (await raw.client.lrange(k, 0, -1)).join('\n');
        throw new Error(`a key of type ${type} was not read: ${k}`);
      }),
    );
    return `${keys.join('\n')}\n${values.join('\n')}`;
  } finally {
    await raw.close();
  }
}

let dir: string;
let s3: EmbeddedS3;
const clientFor = (accessKeyId: string) =>
  new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey: PAIRS[accessKeyId]!.secret } });

// This file's embedded server checks every signature: the s3-mode tests use it when the run has no real
// S3, and the pydio-mode tests use one of their own that imitates Cells.
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

function upload(c: { post(url: string): request.Test }, parentId: string, name: string, body: string) {
  return c
    .post(`/v2/gateway_metadata_file/${parentId}`)
    .set(
      'X-Gateway-Upload',
      JSON.stringify({
        'gateway.metadata.name': encodeURIComponent(name),
        'gateway.metadata.modified': 1700000000000,
        'gateway.metadata.file.size': Buffer.byteLength(body),
      }),
    )
    .send(body);
}

type Person = 'alice' | 'bob' | 'reader';

/**
 * Where the s3-mode tests run: this file's embedded server (which checks every signature, `reader`
 * read-only), or the real S3 of the run, with S3 users of their own (scripts/rgw/start.sh makes alice,
 * bob and reader) granted buckets made for this run by bucket policy (reader: read only).
 */
interface KeysTarget {
  env: Record<string, string>;
  pairs: Record<Person, { id: string; secret: string }>;
  buckets: { a: string; b: string; other: string };
  /** Reads as the operator, to check what S3 holds. */
  admin: S3Client;
  close(): Promise<void>;
}

async function keysTarget(): Promise<KeysTarget> {
  // A real S3 without users for these tests (S3_TEST_USERS: scripts/rgw/start.sh makes them): the embedded server.
  if (!realS3 || Object.keys(realS3.users).length === 0) {
    const admin = clientFor('alice-key');
    return {
      env: { S3_ENDPOINT: s3.endpoint, S3_PROVIDER: 'other' },
      pairs: {
        alice: { id: 'alice-key', secret: PAIRS['alice-key']!.secret },
        bob: { id: 'bob-key', secret: PAIRS['bob-key']!.secret },
        reader: { id: 'reader-key', secret: PAIRS['reader-key']!.secret },
      },
      buckets: { a: 'team-a', b: 'team-b', other: 'private' },
      admin,
      close: async () => admin.destroy(),
    };
  }
  const users = realS3.users;
  for (const person of ['alice', 'bob', 'reader']) {
    if (!users[person]) throw new Error(`S3_TEST_USERS names no ${person} (it should list alice, bob and reader, as scripts/rgw/start.sh makes them)`);
  }
  recordSecrets(...Object.values(users).map((u) => u.secretAccessKey));
  const admin = new S3Client({
    endpoint: realS3.endpoint,
    region: realS3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: realS3.accessKeyId, secretAccessKey: realS3.secretAccessKey },
  });
  const suffix = randomBytes(4).toString('hex');
  const buckets = { a: `team-a-${suffix}`, b: `team-b-${suffix}`, other: `private-${suffix}` };
  for (const Bucket of Object.values(buckets)) await admin.send(new CreateBucketCommand({ Bucket }));
  for (const Bucket of [buckets.a, buckets.b]) {
    const resources = [`arn:aws:s3:::${Bucket}`, `arn:aws:s3:::${Bucket}/*`];
    const Policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: ['arn:aws:iam:::user/alice', 'arn:aws:iam:::user/bob'] }, Action: ['s3:*'], Resource: resources },
        { Effect: 'Allow', Principal: { AWS: ['arn:aws:iam:::user/reader'] }, Action: ['s3:GetObject', 's3:ListBucket'], Resource: resources },
      ],
    });
    await admin.send(new PutBucketPolicyCommand({ Bucket, Policy }));
  }
  return {
    env: { S3_ENDPOINT: realS3.endpoint, S3_PROVIDER: realS3.provider },
    pairs: {
      alice: { id: users.alice!.accessKeyId, secret: users.alice!.secretAccessKey },
      bob: { id: users.bob!.accessKeyId, secret: users.bob!.secretAccessKey },
      reader: { id: users.reader!.accessKeyId, secret: users.reader!.secretAccessKey },
    },
    buckets,
    admin,
    async close() {
      for (const Bucket of Object.values(buckets)) {
        const listed = await admin.send(new ListObjectsV2Command({ Bucket }));
        for (const o of listed.Contents ?? []) await admin.send(new DeleteObjectCommand({ Bucket, Key: o.Key! }));
        await admin.send(new DeleteBucketCommand({ Bucket }));
      }
      admin.destroy();
    },
  };
}

describe('AUTH_MODE=s3: people sign in with their own S3 keys', () => {
  let t: KeysTarget;
  let gw: TestGateway;
  const env = () => ({ S3_ACCESS_KEY_ID: '', S3_SECRET_ACCESS_KEY: '', S3_BUCKET: '', ...t.env, AUTH_MODE: 's3', S3_BUCKETS: `${t.buckets.a},${t.buckets.b}` });
  const keys = (who: Person, bucket?: string) => ({ access_key_id: t.pairs[who].id, secret_access_key: t.pairs[who].secret, ...(bucket ? { bucket } : {}) });
  const keysIn = async (bucket: string, prefix = '') =>
    ((await t.admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();
  beforeAll(async () => {
    t = await keysTarget();
    gw = await startTestGateway({ store: 'memory', env: env() });
  });
  afterAll(async () => {
    await gw?.close();
    await t?.close();
  });

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
    [{ access_key_id: 'someone' }, 'secret_access_key'],
    [{ access_key_id: 'someone', secret_access_key: 7 }, 'secret_access_key'],
  ])('answers 400 naming a missing or malformed field (%j)', async (body, field) => {
    const res = await request(gw.runtime.app).post('/v2/gateway_auth').send(body).expect(400);
    expect(res.body).toMatchObject({ field });
    expect(res.body.message).toContain(field);
  });

  it('refuses a wrong secret, an unknown key and a bucket not on the list with 403', async () => {
    const app = gw.runtime.app;
    const wrong = await request(app).post('/v2/gateway_auth').send({ access_key_id: t.pairs.alice.id, secret_access_key: 'not-the-secret' }).expect(403);
    expect(wrong.body.message).toMatch(/Invalid credential/);
    await request(app).post('/v2/gateway_auth').send({ access_key_id: 'MALLORY0000000000000', secret_access_key: 'whatever' }).expect(403);
    const bucket = await request(app).post('/v2/gateway_auth').send(keys('alice', t.buckets.other)).expect(403);
    expect(bucket.body).toMatchObject({ field: 'bucket' });
  });

  it('acts on S3 with the person’s keys, in the bucket they chose', async () => {
    const alice = await signInWith(gw.runtime.app, keys('alice', t.buckets.b));
    const folder = await alice.post(`/v2/gateway_metadata_folder/${alice.rootId}`, { 'gateway.metadata.name': 'plans' }).expect(200);
    await upload(alice, folder.body['gateway.metadata.id'], 'q1 + q2.txt', 'hello from alice').expect(200);
    expect(await keysIn(t.buckets.b, 'plans/')).toEqual(['plans/', 'plans/q1 + q2.txt']);
    expect(await keysIn(t.buckets.a, 'plans/')).toEqual([]);
    const file = await alice.get(`/v2/gateway_file/${idOf('plans/q1 + q2.txt')}`).expect(200);
    expect(file.text).toBe('hello from alice');
    const { entries } = await listAll(alice, folder.body['gateway.metadata.id'] as string);
    expect(names(entries)).toEqual(['q1 + q2.txt']);
  });

  it('gives one stable gateway.auth.id per endpoint, bucket and key, revealing neither key nor secret', async () => {
    const a1 = await signInWith(gw.runtime.app, keys('alice', t.buckets.a));
    const a2 = await signInWith(gw.runtime.app, keys('alice'));
    const other = await signInWith(gw.runtime.app, keys('alice', t.buckets.b));
    const bob = await signInWith(gw.runtime.app, keys('bob', t.buckets.a));
    const id = a1.body['gateway.auth.id'] as string;
    expect(a2.body['gateway.auth.id']).toBe(id);
    expect(new Set([id, other.body['gateway.auth.id'], bob.body['gateway.auth.id']]).size).toBe(3);
    for (const c of [a1, a2, other, bob]) {
      const text = JSON.stringify(c.body);
      for (const p of Object.values(t.pairs)) {
        expect(text).not.toContain(p.secret);
        expect(text).not.toContain(p.id);
      }
    }
  });

  it('reuses one S3 client per key pair across requests', async () => {
    const alice = await signInWith(gw.runtime.app, keys('alice', t.buckets.a));
    const sessions = gw.runtime.services.sessions;
    const first = await sessions.authenticate(alice.token);
    const second = await sessions.authenticate(alice.token);
    expect(second.account.bucket).toBe(first.account.bucket);
    const bob = await sessions.authenticate((await signInWith(gw.runtime.app, keys('bob', t.buckets.a))).token);
    expect(bob.account.bucket).not.toBe(first.account.bucket);
  });

  it('passes on S3’s refusal of a read-only key as 403 and writes nothing', async () => {
    const reader = await signInWith(gw.runtime.app, keys('reader', t.buckets.a));
    await reader.get(`/v2/gateway_metadata_children/${reader.rootId}`).expect(200);
    const before = await keysIn(t.buckets.a);
    const folder = await reader.post(`/v2/gateway_metadata_folder/${reader.rootId}`, { 'gateway.metadata.name': 'nope' }).expect(403);
    expect(folder.body.message).toMatch(/access denied/i);
    await upload(reader, reader.rootId, 'nope.txt', 'not stored').expect(403);
    expect(await keysIn(t.buckets.a)).toEqual(before);
  });

  it('redirects downloads to URLs presigned with the person’s keys, which S3 checks', async () => {
    const redirecting = await startTestGateway({ store: 'memory', env: { ...env(), DOWNLOAD_MODE: 'redirect' } });
    try {
      const bob = await signInWith(redirecting.runtime.app, keys('bob', t.buckets.a));
      await upload(bob, bob.rootId, 'presigned.txt', 'fetched straight from S3').expect(200);
      const res = await bob.get(`/v2/gateway_file/${idOf('presigned.txt')}`).expect(302);
      const url = res.headers.location as string;
      expect(url).toContain(`X-Amz-Credential=${t.pairs.bob.id}`);
      expect(await (await fetch(url)).text()).toBe('fetched straight from S3');
      expect((await fetch(url.replace('presigned.txt', 'other.txt'))).status).toBe(403);
    } finally {
      await redirecting.close();
    }
  });

  it('never logs a key pair', () => {
    const log = gw.logLines.join('\n');
    for (const p of Object.values(t.pairs)) expect(log).not.toContain(p.secret);
  });

  it('answers 503 at sign-in when S3 does not answer', async () => {
    const down = await startTestGateway({ store: 'memory', env: { ...env(), S3_ENDPOINT: 'http://127.0.0.1:9', S3_MAX_ATTEMPTS: '1' } });
    try {
      const res = await request(down.runtime.app).post('/v2/gateway_auth').send(keys('alice'));
      expect(res.body).toMatchObject({ status: 503 });
      expect(res.headers['retry-after']).toBe('5');
    } finally {
      await down.close();
    }
  });

  it('cannot be used to lock a colleague out: failures count per key and address, under a higher bound per key', async () => {
    const throttled = await startTestGateway({ store: 'memory', env: { ...env(), TRUST_PROXY: 'true', SIGNIN_ACCOUNT_MAX_FAILURES: '2' } });
    try {
      const app = throttled.runtime.app;
      const guess = (address: string) =>
        request(app).post('/v2/gateway_auth').set('X-Forwarded-For', address).send({ access_key_id: t.pairs.alice.id, secret_access_key: 'a-guess' });
      // A burst of wrong secrets for alice's (public) key id from one address: two tries, then 429.
      const burst = await Promise.all(Array.from({ length: 8 }, () => guess('198.51.100.66')));
      expect(burst.map((r) => r.status).sort()).toEqual([403, 403, 429, 429, 429, 429, 429, 429]);
      // Alice, elsewhere, is not locked out.
      await request(app).post('/v2/gateway_auth').set('X-Forwarded-For', '203.0.113.5').send(keys('alice')).expect(200);
      // From many addresses, the key's own bound (ten times the per-address one) ends the guessing.
      for (let i = 1; i <= 9; i++) for (const status of [403, 403]) await guess(`192.0.2.${i}`).expect(status);
      await guess('192.0.2.100').expect(429);
    } finally {
      await throttled.close();
    }
  });

  describeWithRedis('with Redis', () => {
    let redisGw: TestGateway;
    beforeAll(async () => {
      redisGw = await startTestGateway({ store: 'redis', env: { ...env(), CREDENTIALS_KEY: randomBytes(32).toString('base64') } });
    });
    afterAll(() => redisGw.close());

    it('keeps the keys in the session store only sealed', async () => {
      const alice = await signInWith(redisGw.runtime.app, keys('alice', t.buckets.a));
      await alice.get(`/v2/gateway_metadata_children/${alice.rootId}`).expect(200);
      expect(redisGw.runtime.store.kind).toBe('redis');
      const everything = await everyKeyAndValue(redisGw.runtime.config.redis.keyPrefix);
      expect(everything.length).toBeGreaterThan(0);
      expect(everything).not.toContain(t.pairs.alice.secret);
      expect(everything).not.toContain(t.pairs.alice.id);
    });

    it('keeps the keys in an upload’s record no longer than the session: once it ends, the sweep aborts the upload and drops them', async () => {
      const app = redisGw.runtime.app;
      const prefix = redisGw.runtime.config.redis.keyPrefix;
      const alice = await signInWith(app, keys('alice', t.buckets.a));
      const name = `unfinished-${randomBytes(4).toString('hex')}.bin`;
      const started = await alice
        .post('/v2/gateway_upload', {
          'gateway.metadata.parent.id': alice.rootId,
          'gateway.metadata.name': name,
          'gateway.metadata.file.size': 10,
          'gateway.upload.segment': [
            { 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': 10, 'gateway.upload.segment.sha256': 'a'.repeat(64) },
          ],
        })
        .expect(200);
      const uploadId = started.body['gateway.upload.id'] as string;
      const { principal } = (await redisGw.runtime.services.sessions.authenticate(alice.token)).account;
      const copies = async () => (await everyKeyAndValue(prefix)).split(principal).length - 1;
      expect(await copies()).toBe(2); // the session and the upload's record
      const onS3 = async () => ((await t.admin.send(new ListMultipartUploadsCommand({ Bucket: t.buckets.a, Prefix: name }))).Uploads ?? []).map((u) => u.Key);
      const listsUploads = t.env.S3_ENDPOINT !== s3.endpoint; // the embedded server cannot list multipart uploads
      if (listsUploads) expect(await onS3()).toEqual([name]);

      // While the session lives its upload is its own.
      expect(await redisGw.runtime.multipartRegistry.sweep()).toBe(0);
      await alice.del(`/v2/gateway_auth/${alice.token}`).expect(200);
      expect(await redisGw.runtime.multipartRegistry.sweep()).toBe(1);
      expect(await copies()).toBe(0);
      if (listsUploads) expect(await onS3()).toEqual([]);
      // Signed in again, the upload is gone (the client starts over), not half-alive without its multipart upload.
      const again = await signInWith(app, keys('alice', t.buckets.a));
      await again.del(`/v2/gateway_upload/${uploadId}`).expect(404);
    });
  });
});

describe('AUTH_MODE=pydio: Pydio Cells’ io bucket, signed in with a Cells token', () => {
  // A server of its own that refuses what Cells refuses, as Cells answers it (see imitateCells).
  let cellsDir: string;
  let cells: EmbeddedS3;
  let gw: TestGateway;
  const cellsEnv = (env: Record<string, string> = {}) => ({
    S3_ENDPOINT: cells.endpoint,
    S3_ACCESS_KEY_ID: '',
    S3_SECRET_ACCESS_KEY: '',
    S3_BUCKET: '',
    AUTH_MODE: 'pydio',
    S3_PROVIDER: 'cells',
    LIST_PAGE_SIZE: '2',
    UPLOAD_PART_SIZE: String(5 * 1024 * 1024),
    ...env,
  });
  const cellsKeys = async (prefix: string) => {
    const c = new S3Client({
      endpoint: cells.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'alice-key', secretAccessKey: PAIRS['alice-key']!.secret },
    });
    try {
      return ((await c.send(new ListObjectsV2Command({ Bucket: 'io', Prefix: prefix, MaxKeys: 100_000 }))).Contents ?? []).map((o) => o.Key!).sort();
    } finally {
      c.destroy();
    }
  };
  beforeAll(async () => {
    cellsDir = await mkdtemp(path.join(tmpdir(), 'cells-'));
    cells = await startEmbeddedS3(cellsDir, { keys: keyOf, imitateCells: true });
    // s3rver refuses to create a bucket with a two-letter name, which Cells has: make its folder directly.
    await mkdir(path.join(cells.directory, 'io'));
    const admin = new S3Client({
      endpoint: cells.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'alice-key', secretAccessKey: PAIRS['alice-key']!.secret },
    });
    for (const Key of ['personal-files/readme.md', 'common-files/shared/a.txt', 'common-files/shared/b.txt']) {
      await admin.send(new PutObjectCommand({ Bucket: 'io', Key, Body: `content of ${Key}` }));
    }
    admin.destroy();
    gw = await startTestGateway({ store: 'memory', env: cellsEnv({ PYDIO_TOKEN_MARGIN: '1' }) });
  });
  afterAll(async () => {
    await gw?.close();
    await cells?.close();
    await rm(cellsDir, { recursive: true, force: true });
  });

  it('asks only for the token', async () => {
    const res = await request(gw.runtime.app).get('/v2/gateway_auth_method').expect(200);
    expect((res.body['gateway.auth.form'] as Json[]).map((f) => f['gateway.auth.form.input.field.name'])).toEqual(['token']);
  });

  it('answers 400 for a token that is not a JWT and 403 for an expired one', async () => {
    const app = gw.runtime.app;
    const bad = await request(app).post('/v2/gateway_auth').send({ token: 'not-a-jwt' }).expect(400);
    expect(bad.body).toMatchObject({ field: 'token' });
    expect(bad.body.message).toMatch(/not a JWT/);
    await request(app)
      .post('/v2/gateway_auth')
      .send({ token: await cellsToken('alice', -10) })
      .expect(403);
  });

  /**
   * What a person does in Cells' workspaces, on a server that refuses DeleteObjects, copies onto
   * themselves and object info of folders, and cuts listings at max-keys without a token. Answers the
   * problems it met, so that a profile that used any refused call is caught.
   */
  async function workInCells(app: TestGateway['runtime']['app'], folder: string): Promise<string[]> {
    const problems: string[] = [];
    const expect200 = async (what: string, t: request.Test) => {
      const res = await t;
      if (res.status !== 200) problems.push(`${what}: ${res.status} ${String(res.body?.message ?? '')}`);
      return res;
    };
    const alice = await signInWith(app, { token: await cellsToken('alice', 3600) });
    const listed = (id: string): Promise<string[]> =>
      listAll(alice, id).then(
        (r) => names(r.entries),
        (err: Error) => {
          problems.push(`listing: ${err.message}`);
          return [];
        },
      );
    const root = await listed(alice.rootId);
    if (root.join() !== 'common-files,personal-files') problems.push(`root lists ${root.join()}`);
    // the server cuts listings at max-keys without a token: the gateway must page itself (LIST_PAGE_SIZE=2)
    await expect200('upload into shared', upload(alice, idOf('common-files/shared/'), `${folder}.txt`, 'third'));
    const shared = await listed(idOf('common-files/shared/'));
    if (shared.join() !== ['a.txt', 'b.txt', `${folder}.txt`].sort().join()) problems.push(`shared lists ${shared.join()}`);
    await expect200('delete from shared', alice.del(`/v2/gateway_metadata/${idOf(`common-files/shared/${folder}.txt`)}`));
    // a folder with a large upload whose hash is computed (no copy onto itself may record it), a sub-folder,
    // listed (folder times without HEAD on folders), renamed (copies, deletes one by one) and deleted
    const made = await expect200(
      'new folder',
      alice.post(`/v2/gateway_metadata_folder/${idOf('personal-files/')}`, { 'gateway.metadata.name': folder, 'gateway.metadata.modified': 1600000000000 }),
    );
    const id = made.body['gateway.metadata.id'] as string;
    const big = randomBytes(6 * 1024 * 1024);
    await expect200(
      'large upload',
      alice
        .post(`/v2/gateway_metadata_file/${id}`)
        .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': 'big.bin', 'gateway.metadata.file.size': big.length }))
        .send(big),
    );
    await expect200('sub-folder', alice.post(`/v2/gateway_metadata_folder/${id}`, { 'gateway.metadata.name': 'sub' }));
    await expect200('upload', upload(alice, id, 'one.txt', 'one'));
    await expect200('list the folder', alice.get(`/v2/gateway_metadata_children/${id}`));
    await expect200('get the folder', alice.get(`/v2/gateway_metadata/${id}`));
    await expect200('rename', alice.put(`/v2/gateway_metadata_name/${id}`, { 'new.gateway.metadata.name': `${folder}-final` }));
    const finalKeys = await cellsKeys(`personal-files/${folder}-final/`);
    if (finalKeys.join() !== ['', 'big.bin', 'one.txt', 'sub/'].map((k) => `personal-files/${folder}-final/${k}`).join())
      problems.push(`renamed folder holds ${finalKeys.join()}`);
    await expect200('delete', alice.del(`/v2/gateway_metadata/${idOf(`personal-files/${folder}-final/`)}`));
    const left = await cellsKeys(`personal-files/${folder}`);
    if (left.length) problems.push(`left behind: ${left.join()}`);
    return problems;
  }

  it('works in the workspaces without DeleteObjects, copy onto itself, object info of folders or listing tokens', async () => {
    expect(await workInCells(gw.runtime.app, 'drafts')).toEqual([]);
    expect(gw.runtime.config.s3.profile).toMatchObject({ bulkDelete: false, copyToSelf: false, headFolders: false, paginates: false });
  });

  it.each([
    ['S3_BULK_DELETE', 'DeleteObjects'],
    ['S3_COPY_TO_SELF', 'a copy onto itself'],
    ['S3_HEAD_FOLDERS', 'object info of a folder'],
    ['S3_PAGINATES', 'a listing token'],
  ])('fails there when the profile would use what Cells refuses (%s=true: %s)', async (setting) => {
    const flipped = await startTestGateway({ store: 'memory', env: cellsEnv({ [setting]: 'true' }) });
    try {
      expect((await workInCells(flipped.runtime.app, `flip-${setting.toLowerCase()}`)).length).toBeGreaterThan(0);
    } finally {
      await flipped.close();
    }
    // what the failed run left is cleared with the profile that works
    const alice = await signInWith(gw.runtime.app, { token: await cellsToken('alice', 3600) });
    const name = `flip-${setting.toLowerCase()}`;
    for (const id of [`personal-files/${name}/`, `personal-files/${name}-final/`, `common-files/shared/${name}.txt`])
      await alice.del(`/v2/gateway_metadata/${idOf(id)}`);
    expect(await cellsKeys('')).toEqual(['common-files/shared/a.txt', 'common-files/shared/b.txt', 'personal-files/readme.md']);
  });

  it('cannot be used to lock a colleague out with forged tokens that claim to be them', async () => {
    const throttled = await startTestGateway({ store: 'memory', env: cellsEnv({ TRUST_PROXY: 'true', SIGNIN_ACCOUNT_MAX_FAILURES: '2' }) });
    try {
      const app = throttled.runtime.app;
      // A JWT anyone can write: alice's sub, signed with a key Cells does not have.
      const forged = await new SignJWT({ name: 'alice' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
        .sign(randomBytes(32));
      const burst = await Promise.all(
        Array.from({ length: 6 }, () => request(app).post('/v2/gateway_auth').set('X-Forwarded-For', '198.51.100.66').send({ token: forged })),
      );
      expect(burst.map((r) => r.status).sort()).toEqual([403, 403, 429, 429, 429, 429]);
      await request(app)
        .post('/v2/gateway_auth')
        .set('X-Forwarded-For', '203.0.113.5')
        .send({ token: await cellsToken('alice', 3600) })
        .expect(200);
    } finally {
      await throttled.close();
    }
  });

  it('keeps one gateway.auth.id for one person across tokens', async () => {
    const first = await signInWith(gw.runtime.app, { token: await cellsToken('alice', 3600) });
    const second = await signInWith(gw.runtime.app, { token: await cellsToken('alice', 7200) });
    const bob = await signInWith(gw.runtime.app, { token: await cellsToken('bob', 3600) });
    expect(second.body['gateway.auth.id']).toBe(first.body['gateway.auth.id']);
    expect(bob.body['gateway.auth.id']).not.toBe(first.body['gateway.auth.id']);
  });

  it('answers 401 once the token is within the margin of expiring, before any work, and says refresh cannot help', async () => {
    // Valid for 12 s with a margin of 6 s: requests work for the first 6 s (ample time to sign in and list,
    // even on a loaded machine), and from then on none may start.
    const margined = await startTestGateway({ store: 'memory', env: cellsEnv({ PYDIO_TOKEN_MARGIN: '6' }) });
    try {
      const token = await cellsToken('carol', 12);
      const short = await signInWith(margined.runtime.app, { token });
      await short.get(`/v2/gateway_metadata_children/${short.rootId}`).expect(200);
      const marginStarts = decodeJwt(token).exp! * 1000 - 6000;
      await waitFor(() => Date.now() >= marginStarts, 'the token to come within the margin', 15_000);
      const res = await short.get(`/v2/gateway_metadata_children/${short.rootId}`).expect(401);
      expect(res.body).toEqual({ error: 'unauthorized', status: 401, message: CELLS_TOKEN_EXPIRED, requestId: res.headers['x-request-id'] });
      const refreshed = await request(margined.runtime.app)
        .post('/v2/gateway_auth_access')
        .send({ 'gateway.auth.refresh.token': short.body['gateway.auth.refresh.token'] })
        .expect(401);
      expect(refreshed.body.message).toBe(CELLS_TOKEN_EXPIRED);
    } finally {
      await margined.close();
    }
  });

  it('answers 401, not 403, when S3 refuses a token that expired after the gateway checked it', async () => {
    // The request passes the gateway's check while the token is valid; its S3 call is held at a gate
    // until the token has expired, so that Cells refuses it (403).
    const gate = await s3Gate(cells.endpoint);
    const late = await startTestGateway({ store: 'memory', env: cellsEnv({ S3_ENDPOINT: gate.url, PYDIO_TOKEN_MARGIN: '0' }) });
    try {
      const token = await cellsToken('erin', 3);
      const erin = await signInWith(late.runtime.app, { token });
      const hold = gate.hold((c) => c.operation === 'ListObjectsV2', 1);
      const listing = Promise.resolve(erin.get(`/v2/gateway_metadata_children/${erin.rootId}`));
      await hold.arrived();
      const expired = decodeJwt(token).exp! * 1000;
      await waitFor(() => Date.now() > expired + 50, 'the token to expire', 10_000);
      hold.release();
      const res = await listing;
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'unauthorized', status: 401, message: CELLS_TOKEN_EXPIRED, requestId: res.headers['x-request-id'] });
    } finally {
      await late.close();
      await gate.close();
    }
  });

  it('never logs a Cells token', async () => {
    const token = await cellsToken('dave', 3600);
    await signInWith(gw.runtime.app, { token });
    await request(gw.runtime.app)
      .post('/v2/gateway_auth')
      .send({ token: `${token}x` })
      .expect(403);
    const log = gw.logLines.join('\n');
    expect(log).not.toContain(token);
    expect(log).not.toContain(CELLS_SECRET);
  });

  describeWithRedis('with Redis', () => {
    it('keeps Cells tokens in the session store only sealed', async () => {
      const sealed = await startTestGateway({ store: 'redis', env: cellsEnv({ CREDENTIALS_KEY: randomBytes(32).toString('base64') }) });
      try {
        const token = await cellsToken('frank', 3600);
        const frank = await signInWith(sealed.runtime.app, { token });
        await frank.get(`/v2/gateway_metadata_children/${frank.rootId}`).expect(200);
        await upload(frank, idOf('personal-files/'), 'frank.txt', 'sealed').expect(200);
        const everything = await everyKeyAndValue(sealed.runtime.config.redis.keyPrefix);
        expect(everything.length).toBeGreaterThan(0);
        for (const part of token.split('.')) expect(everything).not.toContain(part);
        expect(everything).not.toContain(CELLS_SECRET);
      } finally {
        await sealed.close();
      }
    });
  });
});
