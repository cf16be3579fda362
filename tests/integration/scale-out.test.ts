import { createHash, randomBytes } from 'node:crypto';
import { segmentsOf } from '../support/api.js';
import { externalS3, runGateway, waitFor, type Running } from '../support/processes.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

const MiB = 1024 * 1024;
const PASSWORD = 'scale-out-password';
const SESSION_CACHE_MS = 300;
type Json = Record<string, unknown>;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describeWithRedis('two gateway processes on one Redis and one S3', () => {
  let a: Running;
  let b: Running;
  let urlA: string;
  let urlB: string;
  let s3: Awaited<ReturnType<typeof externalS3>>;

  beforeAll(async () => {
    s3 = await externalS3('scale-out');
    const env = {
      ...s3.env,
      REDIS_URL: testRedisUrl!,
      REDIS_KEY_PREFIX: uniquePrefix('scale'),
      DEMO_PASSWORD: PASSWORD,
      UPLOAD_SEGMENT_SIZE: String(5 * MiB),
      DATA_DIR: '/nonexistent-unused',
      SESSION_CACHE_MS: String(SESSION_CACHE_MS),
    };
    a = runGateway(env);
    b = runGateway(env);
    [urlA, urlB] = await Promise.all([a.url(), b.url()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await s3?.stop();
  });

  const call = async (base: string, method: string, route: string, token: string | undefined, body?: Json | Buffer, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
      body: Buffer.isBuffer(body) ? body : body && JSON.stringify(body),
    });
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, body: (type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer())) as Json & Buffer };
  };

  it('share sessions, refresh families and segmented uploads: nothing that matters lives in one process', async () => {
    // sign in on the first
    const signedIn = await call(urlA, 'POST', '/v2/gateway_auth', undefined, { user: 'demo', password: PASSWORD });
    expect(signedIn.status).toBe(200);
    let access = signedIn.body['gateway.auth.access.token'] as string;
    const refresh = signedIn.body['gateway.auth.refresh.token'] as string;

    // list and refresh on the second; the rotated token is dead on the first too
    expect((await call(urlB, 'GET', '/v2/gateway_metadata_children/root', access)).status).toBe(200);
    const refreshed = await call(urlB, 'POST', '/v2/gateway_auth_access', undefined, { 'gateway.auth.refresh.token': refresh });
    expect(refreshed.status).toBe(200);
    expect((await call(urlA, 'GET', '/v2/gateway_metadata_children/root', access)).status).toBe(401);
    access = refreshed.body['gateway.auth.access.token'] as string;

    // one large upload: started on A, segments alternately on B and A, finished on A
    const folder = `scale-${randomBytes(4).toString('hex')}`;
    const made = await call(urlA, 'POST', '/v2/gateway_metadata_folder/root', access, { 'gateway.metadata.name': folder });
    expect(made.status).toBe(200);
    const parentId = made.body['gateway.metadata.id'] as string;
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(123_457)];
    const whole = Buffer.concat(parts);
    const declared = { 'gateway.metadata.name': 'big.bin', 'gateway.metadata.file.size': whole.length, 'gateway.metadata.modified': 1_700_000_000_000 };
    const started = await call(urlA, 'POST', '/v2/gateway_upload', access, {
      ...declared,
      'gateway.metadata.parent.id': parentId,
      'gateway.upload.segment': segmentsOf(parts),
    });
    expect(started.status).toBe(200);
    const uploadId = started.body['gateway.upload.id'] as string;
    const uploadCookie = started.body['gateway.upload.cookie'] as string;
    const planned = started.body['gateway.upload.segment'] as Json[];
    const done: Json[] = [];
    for (const [i, part] of parts.entries()) {
      const via = i % 2 === 0 ? urlB : urlA;
      const header = { ...planned[i], 'gateway.upload.cookie': uploadCookie };
      const sent = await call(via, 'POST', `/v2/gateway_upload_segment/${uploadId}`, access, part, { 'X-Gateway-Upload-Segment': JSON.stringify(header) });
      expect(sent.status).toBe(200);
      done.push(sent.body);
    }
    const finished = await call(urlA, 'POST', `/v2/gateway_metadata_upload/${parentId}`, access, {
      ...declared,
      'gateway.upload.id': uploadId,
      'gateway.upload.cookie': uploadCookie,
      'gateway.upload.segment': done.map(({ 'gateway.upload.cookie': _, ...seg }) => seg),
    });
    expect(finished.status).toBe(200);
    const downloaded = await call(urlB, 'GET', `/v2/gateway_file/${finished.body['gateway.metadata.id'] as string}`, access);
    expect(sha256(downloaded.body)).toBe(sha256(whole));

    // sign out on the second: it refuses the token at once; the first once its remembered lookup is older
    // than SESSION_CACHE_MS (the README's bound), polled with a deadline of that bound plus scheduling slack
    expect((await call(urlB, 'DELETE', `/v2/gateway_auth/${access}`, undefined)).status).toBe(200);
    expect((await call(urlB, 'GET', '/v2/gateway_metadata_children/root', access)).status).toBe(401);
    await waitFor(
      async () => (await call(urlA, 'GET', '/v2/gateway_metadata_children/root', access)).status === 401,
      'the other instance to refuse the signed-out token',
      SESSION_CACHE_MS + 2_000,
    );

    const session = (await call(urlA, 'POST', '/v2/gateway_auth', undefined, { user: 'demo', password: PASSWORD })).body['gateway.auth.access.token'] as string;
    expect((await call(urlA, 'DELETE', `/v2/gateway_metadata/${parentId}`, session)).status).toBe(200);
  });
});
