import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { openUpload, signInWith } from '../support/api.js';
import { DEMO_PASSWORD, startTestGateway, TEST_PASSWORD, type TestGateway } from '../support/gateway.js';
import { s3Gate, type S3GateHandle } from '../support/s3-gate.js';
import { faultProxy } from '../support/fault-proxy.js';
import { storeKeys } from '../../src/core/store-keys.js';
import { externalS3, runGateway, waitFor } from '../support/processes.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

type Proxy = Awaited<ReturnType<typeof faultProxy>>;
const signInBody = { user: 'demo', password: DEMO_PASSWORD };

/** Time a request takes, and its answer. */
async function timed(req: request.Test): Promise<{ ms: number; res: request.Response }> {
  const started = Date.now();
  const res = await req;
  return { ms: Date.now() - started, res };
}

describeWithRedis('when Redis stops or hangs', () => {
  let proxy: Proxy;
  let gw: TestGateway;
  beforeAll(async () => {
    const redis = new URL(testRedisUrl!);
    proxy = await faultProxy({ host: redis.hostname, port: Number(redis.port) });
    gw = await startTestGateway({
      store: 'memory',
      env: { REDIS_URL: `redis://${new URL(proxy.url).host}`, REDIS_KEY_PREFIX: uniquePrefix('faults'), REDIS_COMMAND_TIMEOUT_MS: '500' },
    });
  });
  afterAll(async () => {
    await gw.close();
    await proxy.close();
  });

  it('answers 503 with Retry-After within a bounded time, and recovers without a restart', async () => {
    const app = gw.runtime.app;
    const token = (await request(app).post('/v2/gateway_auth').send(signInBody).expect(200)).body['gateway.auth.access.token'] as string;
    for (const fault of ['down', 'stall'] as const) {
      await proxy.set(fault);
      const { ms, res } = await timed(request(app).get('/v2/gateway_metadata/root').set('Authorization', `Bearer ${token}`));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(ms).toBeLessThan(5000);
      const signIn = await request(app).post('/v2/gateway_auth').send(signInBody);
      expect(signIn.status).toBe(503);
      await request(app).get('/readyz').expect(503);

      await proxy.set('pass');
      // the same session: Redis kept it
      await waitFor(
        async () => (await request(app).get('/v2/gateway_metadata/root').set('Authorization', `Bearer ${token}`)).status === 200,
        'the session to work again',
      );
    }
  });
});

describe('when S3 stops or hangs', () => {
  let proxy: Proxy;
  let gw: TestGateway;
  let s3: Awaited<ReturnType<typeof externalS3>>;
  beforeAll(async () => {
    s3 = await externalS3('faults');
    const target = new URL(s3.env.S3_ENDPOINT!);
    proxy = await faultProxy({ host: target.hostname, port: Number(target.port) });
    gw = await startTestGateway({
      store: 'memory',
      env: { ...s3.env, S3_ENDPOINT: proxy.url, S3_MAX_ATTEMPTS: '1', S3_CONNECT_TIMEOUT_MS: '500', S3_REQUEST_TIMEOUT_MS: '1000' },
    });
  });
  afterAll(async () => {
    await gw.close();
    await proxy.close();
    await s3.stop();
  });

  it.each([
    ['stops', 503, 'down'],
    ['hangs', 504, 'stall'],
  ] as const)('%s: answers %d within the configured timeouts, and recovers without a restart', async (_what, status, fault) => {
    const app = gw.runtime.app;
    const token = (await request(app).post('/v2/gateway_auth').send(signInBody).expect(200)).body['gateway.auth.access.token'] as string;
    const list = () => request(app).get('/v2/gateway_metadata_children/root').set('Authorization', `Bearer ${token}`);
    await list().expect(200);
    await proxy.set(fault);
    const { ms, res } = await timed(list());
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(status === 503 ? 'unavailable' : 'timeout');
    expect(res.headers['retry-after']).toBe(status === 503 ? '5' : undefined);
    expect(ms).toBeLessThan(5000);
    await proxy.set('pass');
    await list().expect(200);
  });
});

describe('when S3 stores something other than what it was sent', () => {
  const MiB = 1024 * 1024;
  let s3: Awaited<ReturnType<typeof externalS3>>;
  let gate: S3GateHandle;
  let gw: TestGateway;
  const root = `stored-length-${randomBytes(4).toString('hex')}/`;
  beforeAll(async () => {
    s3 = await externalS3('stored-length');
    gate = await s3Gate(s3.env.S3_ENDPOINT!);
    gw = await startTestGateway({
      store: 'memory',
      users: [{ name: 'tester', root }],
      env: { ...s3.env, S3_ENDPOINT: gate.url, UPLOAD_PART_SIZE: String(5 * MiB) },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await gate?.close();
    await s3?.stop();
  });

  it.each([
    ['in one PUT', 100_000],
    ['in parts', 6 * MiB],
  ])('answers 502 and keeps nothing when S3 holds a different length than the gateway sent (%s)', async (_how, size) => {
    const name = `short-${size}.bin`;
    // S3 accepts the upload but then holds one byte less (a fault proxy reports the object one byte short).
    const undo = gate.alter(
      (c) => c.operation === 'HeadObject' && c.key === `${root}${name}`,
      (status, headers) => (status === 200 ? { ...headers, 'content-length': String(Number(headers['content-length']) - 1) } : headers),
    );
    try {
      const c = await signInWith(gw.runtime.app, { user: 'tester', password: TEST_PASSWORD });
      const res = await c
        .post(`/v2/gateway_metadata_file/${c.rootId}`)
        .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': size }))
        .send(randomBytes(size));
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({ error: 'bad_gateway', status: 502, message: expect.stringMatching(/different number of bytes.*nothing was kept/) });
      const kept = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${root}${name}` })).then(
        () => true,
        () => false,
      );
      expect(kept).toBe(false);
      expect((await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: root }))).Uploads ?? []).toEqual([]);
    } finally {
      undo();
    }
  });
});

describeWithRedis('when the gateway process is killed in the middle of a large upload', () => {
  it('shows nothing partial in the bucket, and the next start aborts the orphaned multipart upload', async () => {
    const s3 = await externalS3('killed');
    const name = `killed-${randomBytes(4).toString('hex')}.bin`;
    const env = {
      ...s3.env,
      REDIS_URL: testRedisUrl!,
      REDIS_KEY_PREFIX: uniquePrefix('killed'),
      DEMO_PASSWORD,
      UPLOAD_PART_SIZE: String(5 * 1024 * 1024),
      // Renewed every third of it, so after a kill it ends 10 to 15 s later: the next start comes well before.
      UPLOAD_STREAM_LEASE: '15',
      UPLOAD_SWEEP_INTERVAL: '1',
      DATA_DIR: '/nonexistent-unused',
    };
    const multipartUploads = async () =>
      ((await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: name }))).Uploads ?? []).filter((u) => u.Key === name);
    const stored = () =>
      s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: name })).then(
        () => true,
        () => false,
      );
    const redis = new Redis(testRedisUrl!, { lazyConnect: true });
    const first = runGateway(env);
    try {
      const url = new URL(await first.url());
      const signIn = await fetch(`${url.origin}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify(signInBody) });
      const token = ((await signIn.json()) as Record<string, string>)['gateway.auth.access.token']!;
      const size = 20 * 1024 * 1024;
      const req = openUpload(url.origin, token, 'root', name, size);
      req.write(Buffer.alloc(12 * 1024 * 1024, 7));
      // Parts are on their way to S3: a multipart upload exists, and is recorded for the sweep (which comes
      // first when parts are stored; killed before that, the upload holds no bytes).
      await waitFor(async () => (await multipartUploads()).length > 0, 'a multipart upload to start');
      await waitFor(async () => (await redis.scard(`${env.REDIS_KEY_PREFIX}${storeKeys.multipartRegistry}`)) > 0, 'the upload to be recorded');
      expect((await multipartUploads()).map((u) => u.Key)).toEqual([name]);
      const killedAt = Date.now();
      first.child.kill('SIGKILL');
      await first.exited;
      req.destroy();

      expect(await multipartUploads()).toHaveLength(1);
      expect(await stored()).toBe(false);

      // The next instance's sweeps leave it while its lease runs, and abort it once the lease has run out.
      const second = runGateway(env);
      try {
        await second.url();
        expect(Date.now() - killedAt).toBeLessThan(10_000); // (so the lease cannot have run out yet)
        expect(await multipartUploads()).toHaveLength(1);
        await waitFor(async () => (await multipartUploads()).length === 0, 'the sweep to abort the orphan', 40_000).catch((err: Error) => {
          throw new Error(`${err.message}; the gateway said:\n${second.stdout().slice(-4000)}${second.stderr().slice(-2000)}`);
        });
        expect(Date.now() - killedAt).toBeGreaterThanOrEqual(10_000);
        expect(await stored()).toBe(false);
      } finally {
        await second.stop();
      }
    } finally {
      first.child.kill('SIGKILL');
      redis.disconnect();
      await s3.stop();
    }
  }, 60_000);
});
