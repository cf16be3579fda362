import { createHash, randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import { idOf } from '../support/api.js';
import { externalS3, runGateway, waitFor, type Running } from '../support/processes.js';
import { s3Gate } from '../support/s3-gate.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

const PASSWORD = 'folder-jobs-crash-password';
const OBJECTS = 3000;
const COPY_CONCURRENCY = 4;
type Json = Record<string, unknown>;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/**
 * A 3,000-object folder move whose owning gateway process is killed (SIGKILL) half-way: another process
 * finishes it. On the RADOS Gateway in the real-S3 run, on the embedded S3 (as its own process) otherwise.
 */
describeWithRedis('a folder move whose gateway process is killed half-way', () => {
  const procs: Running[] = [];
  let redis: Redis | undefined;
  let cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const c of cleanup.reverse()) await c();
    redis?.disconnect();
  });

  it('is finished by another process from its cursor: nothing lost, nothing copied twice without need, the others saw it done', async () => {
    const s3 = await externalS3('folder-jobs-crash');
    const gate = await s3Gate(s3.env.S3_ENDPOINT!);
    cleanup = [() => s3.stop(), () => gate.close()];
    const prefix = uniquePrefix('crash');
    redis = new Redis(testRedisUrl!);
    const env = {
      ...s3.env,
      S3_ENDPOINT: gate.url,
      REDIS_URL: testRedisUrl!,
      REDIS_KEY_PREFIX: prefix,
      DEMO_PASSWORD: PASSWORD,
      DATA_DIR: '/nonexistent-unused',
      COPY_CONCURRENCY: String(COPY_CONCURRENCY),
      FOLDER_JOB_WAIT_MS: '1000',
      // The owner's locks end 3 s after it dies; a write into the target waits up to two minutes for the job.
      LOCK_LEASE_MS: '3000',
      LOCK_WAIT_MS: '120000',
    };
    const [a, b] = [runGateway(env), runGateway(env)];
    procs.push(a, b);
    const [urlA, urlB] = await Promise.all([a.url(), b.url()]);
    const call = async (
      base: string,
      method: string,
      route: string,
      token?: string,
      body?: Json | Buffer,
      headers: Record<string, string> = {},
      signal?: AbortSignal,
    ) => {
      const res = await fetch(`${base}${route}`, {
        method,
        headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
        body: Buffer.isBuffer(body) ? body : body && JSON.stringify(body),
        signal,
      });
      const type = res.headers.get('content-type') ?? '';
      return { status: res.status, body: (type.includes('json') ? await res.json() : await res.text()) as Json & Json[] };
    };
    const signIn = async (base: string) =>
      (await call(base, 'POST', '/v2/gateway_auth', undefined, { user: 'demo', password: PASSWORD })).body['gateway.auth.access.token'] as string;
    const [ta, tb] = [await signIn(urlA), await signIn(urlB)];
    const listAll = async (base: string, token: string, rel: string) => {
      const entries: Json[] = [];
      let page: string | null = null;
      do {
        const res = await fetch(`${base}/v2/gateway_metadata_children/${idOf(rel)}${page ? `?page=${encodeURIComponent(page)}` : ''}`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        expect(res.status).toBe(200);
        entries.push(...((await res.json()) as Json[]));
        page = res.headers.get('x-gateway-page');
      } while (page);
      return entries.map((e) => e['gateway.metadata.name'] as string).sort();
    };

    // 3,000 small objects in ten folders, written straight into S3.
    const run = `crash-${randomBytes(4).toString('hex')}/`;
    const name = (i: number) => `d${i % 10}/f${String(i).padStart(4, '0')}.txt`;
    const put = pLimit(32);
    await Promise.all(
      Array.from({ length: OBJECTS }, (_, i) =>
        put(() => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${run}src/${name(i)}`, Body: `object ${i} of ${run}` }))),
      ),
    );
    expect((await call(urlA, 'POST', '/v2/gateway_metadata_folder/root', ta, { 'gateway.metadata.name': run.slice(0, -1) })).status).toBe(200);
    expect((await call(urlA, 'POST', `/v2/gateway_metadata_folder/${idOf(run)}`, ta, { 'gateway.metadata.name': 'dest' })).status).toBe(200);

    // Once a third is copied, S3 holds the copies until the test lets them go: the job is surely half-way.
    let copies = 0;
    const held = gate.hold((c) => c.operation === 'CopyObject' && ++copies > 1000);
    const jobRecord = async () => {
      const ids = await redis!.smembers(`${prefix}fjob-index`);
      expect(ids.length).toBeLessThanOrEqual(1);
      const raw = ids[0] === undefined ? null : await redis!.get(`${prefix}fjob:${ids[0]}`);
      return raw === null ? undefined : (JSON.parse(raw) as { owner: string; done: number; cursor?: string; started: number });
    };

    // The client asks a, then goes away before the answer; the job goes on.
    const move = (base: string, token: string, signal?: AbortSignal) =>
      call(base, 'PUT', `/v2/gateway_metadata_parent/${idOf(`${run}src/`)}`, token, { 'new.gateway.metadata.parent.id': idOf(`${run}dest/`) }, {}, signal);
    const gone = new AbortController();
    const first = move(urlA, ta, gone.signal).catch((err: unknown) => err);
    await waitFor(async () => (await jobRecord()) !== undefined, 'the job to be recorded');
    gone.abort();
    expect(await first).toMatchObject({ name: 'AbortError' });
    await held.arrived();
    const started = (await jobRecord())!;
    // The pages before the held copy: copied, checked, their sources deleted, the cursor past them. A page is
    // at most 1,000 keys, and an S3 may answer fewer (the RADOS Gateway's first page once held 891).
    const sourceKeys = Array.from({ length: OBJECTS }, (_, i) => `${run}src/${name(i)}`).sort();
    expect(started.done).toBeGreaterThan(0);
    expect(started.done).toBeLessThanOrEqual(1000);
    expect(started.cursor).toBe(sourceKeys[started.done - 1]);
    const left = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${run}src/`, MaxKeys: 1 }));
    expect(left.Contents?.[0]?.Key).toBe(sourceKeys[started.done]);

    // It retries on the other instance: that joins the job in flight (the same job, its owner unchanged).
    const retried = await move(urlB, tb);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ 'gateway.metadata.id': idOf(`${run}dest/src/`), 'gateway.metadata.parent.id': idOf(`${run}dest/`) });
    expect(await jobRecord()).toMatchObject({ owner: started.owner, started: started.started });

    // b shows the move done while it runs: the source gone, the target whole.
    expect(await listAll(urlB, tb, run)).toEqual(['dest']);
    expect(await listAll(urlB, tb, `${run}dest/`)).toEqual(['src']);
    expect(await listAll(urlB, tb, `${run}dest/src/`)).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`));
    expect(await listAll(urlB, tb, `${run}dest/src/d7/`)).toEqual(Array.from({ length: OBJECTS / 10 }, (_, k) => name(k * 10 + 7).slice(3)));
    expect((await call(urlB, 'GET', `/v2/gateway_metadata/${idOf(`${run}src/d0/f0000.txt`)}`, tb)).status).toBe(404);
    expect((await call(urlB, 'GET', `/v2/gateway_file/${idOf(`${run}dest/src/d9/f2999.txt`)}`, tb)).body).toBe(`object 2999 of ${run}`);
    // Another move of the same folder: 409.
    expect((await call(urlB, 'PUT', `/v2/gateway_metadata_name/${idOf(`${run}dest/src/`)}`, tb, { 'new.gateway.metadata.name': 'other' })).status).toBe(409);
    // An upload into the target waits for the job, and lands where the client meant it.
    const body = Buffer.from('written while the folder moved');
    const upload = call(urlB, 'POST', `/v2/gateway_metadata_file/${idOf(`${run}dest/src/d0/`)}`, tb, body, {
      'X-Gateway-Upload': JSON.stringify({ 'gateway.metadata.name': 'new.txt', 'gateway.metadata.file.size': body.length }),
    });

    // The owner dies half-way; its copies in flight still reach S3.
    expect((await jobRecord())!.owner).toBe(started.owner);
    a.child.kill('SIGKILL');
    await a.exited;
    held.release();
    // b takes the job over once a's locks end, and finishes it from the cursor.
    await waitFor(async () => (await jobRecord())?.owner !== started.owner, 'another process to take the job over', 60_000);
    await waitFor(async () => (await jobRecord()) === undefined, 'the job to finish', 120_000);
    expect((await upload).status).toBe(200);
    expect(b.stdout()).toMatch(/resuming a folder job/);

    const listed: Array<{ key: string; etag: string }> = [];
    let token: string | undefined;
    do {
      const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: run, ContinuationToken: token }));
      listed.push(...(page.Contents ?? []).map((o) => ({ key: o.Key!, etag: o.ETag!.replaceAll('"', '') })));
      token = page.NextContinuationToken;
    } while (token);
    const expected = Array.from({ length: OBJECTS }, (_, i) => ({ key: `${run}dest/src/${name(i)}`, etag: md5(`object ${i} of ${run}`) }));
    expected.push({ key: `${run}dest/src/d0/new.txt`, etag: md5(body.toString()) });
    const byKey = (x: { key: string }, y: { key: string }) => (x.key < y.key ? -1 : 1);
    // Nothing left in the source, every object in the target with its bytes (and the folders' markers).
    expect(listed.filter((o) => !o.key.endsWith('/')).sort(byKey)).toEqual(expected.sort(byKey));
    // Each object copied once, but for those a's copies in flight and b's may both have written.
    const copyCalls = gate.calls.filter((c) => c.operation === 'CopyObject').length;
    expect(copyCalls).toBeGreaterThanOrEqual(OBJECTS);
    expect(copyCalls).toBeLessThanOrEqual(OBJECTS + COPY_CONCURRENCY);
    const open = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: run }));
    expect(open.Uploads ?? []).toEqual([]);
  }, 300_000);
});
