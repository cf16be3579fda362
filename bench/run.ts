/**
 * `npm run bench`: the gateway against direct SDK calls to the same S3, in the same run, as ratios.
 *
 * Cases (median of several rounds, direct and gateway interleaved):
 * - listing: every page of a 10,000-object folder, metadata cache warm, vs ListObjectsV2 page by page;
 * - folder rename: a 1,000-object folder, vs CopyObject of each at the same concurrency + DeleteObjects.
 *
 * S3 is the embedded server unless S3_ENDPOINT (and keys, bucket) are set; sessions in-process unless
 * REDIS_URL is set. BENCH_ROUNDS, BENCH_LIST_OBJECTS and BENCH_RENAME_OBJECTS scale it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CopyObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { loadConfig } from '../src/config.js';
import { createHttpServer } from '../src/http/server.js';
import { createLogger } from '../src/log.js';
import { buildRuntime } from '../src/runtime.js';
import { copySource, type S3Bucket } from '../src/storage/s3/bucket.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LIST_OBJECTS = Number(process.env.BENCH_LIST_OBJECTS ?? 10_000);
const RENAME_OBJECTS = Number(process.env.BENCH_RENAME_OBJECTS ?? 1_000);
const PASSWORD = 'bench-password-1';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function seed(bucket: S3Bucket, keys: string[]): Promise<void> {
  const limit = pLimit(64);
  await Promise.all(
    keys.map((Key) => limit(() => bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key, Body: Buffer.from(`bench ${Key}`) })))),
  );
}

async function directListAll(bucket: S3Bucket, prefix: string): Promise<number> {
  let token: string | undefined;
  let n = 0;
  do {
    const r = await bucket.client.send(
      new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix, Delimiter: '/', MaxKeys: 1000, ContinuationToken: token }),
    );
    n += (r.Contents?.length ?? 0) + (r.CommonPrefixes?.length ?? 0);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return n;
}

async function directMove(bucket: S3Bucket, from: string, to: string, concurrency: number): Promise<void> {
  const limit = pLimit(concurrency);
  const sources: string[] = [];
  for await (const page of bucket.listAll(from)) {
    await Promise.all(
      page.map((o) =>
        limit(async () => {
          await bucket.client.send(
            new CopyObjectCommand({ Bucket: bucket.name, Key: to + o.key.slice(from.length), CopySource: copySource(bucket.name, o.key), MetadataDirective: 'COPY' }),
          );
          sources.push(o.key);
        }),
      ),
    );
  }
  await bucket.deleteMany(sources);
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gw-bench-'));
  const run = `bench-${Date.now().toString(36)}/`;
  const config = loadConfig({ ...process.env, DATA_DIR: dataDir, PORT: '0', DEMO_PASSWORD: PASSWORD, USERS_FILE: '', LOG_LEVEL: 'error' });
  const runtime = await buildRuntime(config, createLogger({ level: 'error', format: 'json', silent: true }));
  const server = createHttpServer(runtime.app, { maxHeaderBytes: config.limits.maxHeaderBytes });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const bucket = runtime.bucket;

  try {
    const signIn = await fetch(`${base}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: PASSWORD }) });
    const token = ((await signIn.json()) as Record<string, string>)['gateway.auth.access.token']!;
    const call = async (method: string, url: string, body?: object) => {
      const res = await fetch(`${base}${url}`, { method, headers: { Authorization: `Bearer ${token}` }, body: body && JSON.stringify(body) });
      if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
      return res;
    };
    const gatewayListAll = async (folder: string) => {
      let page: string | null = null;
      let n = 0;
      do {
        const res = await call('GET', `/v2/gateway_metadata_children/${b64(folder)}${page ? `?page=${encodeURIComponent(page)}` : ''}`);
        n += ((await res.json()) as unknown[]).length;
        page = res.headers.get('x-gateway-page');
      } while (page);
      return n;
    };

    const s3 = runtime.embeddedS3 ? 'embedded s3rver' : config.s3.endpoint;
    process.stdout.write(`S3: ${s3}; session store: ${runtime.store.kind}; ${ROUNDS} rounds, medians\n\n`);

    // ---- listing, warm cache
    const listFolder = `${run}list/`;
    await seed(bucket, Array.from({ length: LIST_OBJECTS }, (_, i) => `${listFolder}f${String(i).padStart(6, '0')}.txt`));
    const warm = await gatewayListAll(listFolder);
    if (warm !== LIST_OBJECTS) throw new Error(`gateway listed ${warm} of ${LIST_OBJECTS}`);
    const listDirect: number[] = [];
    const listGateway: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      listDirect.push(await timed(() => directListAll(bucket, listFolder)));
      listGateway.push(await timed(() => gatewayListAll(listFolder)));
    }

    // ---- folder rename
    const renameDirect: number[] = [];
    const renameGateway: number[] = [];
    const concurrency = config.files.copyConcurrency;
    for (let i = 0; i < ROUNDS; i++) {
      const d = `${run}mv-direct-${i}/`;
      const g = `${run}mv-gateway-${i}/`;
      const files = (p: string) => Array.from({ length: RENAME_OBJECTS }, (_, k) => `${p}src/d${k % 10}/f${k}.txt`);
      await seed(bucket, [...files(d), ...files(g)]);
      renameDirect.push(await timed(() => directMove(bucket, `${d}src/`, `${d}dst/`, concurrency)));
      renameGateway.push(await timed(() => call('PUT', `/v2/gateway_metadata_name/${b64(`${g}src/`)}`, { 'new.gateway.metadata.name': 'dst' })));
    }

    const rows = [
      ['listing, warm cache', `${LIST_OBJECTS} objects, all pages`, median(listDirect), median(listGateway), 1.3],
      ['folder rename', `${RENAME_OBJECTS} objects, concurrency ${concurrency}`, median(renameDirect), median(renameGateway), 1.2],
    ] as const;
    process.stdout.write('case                 | work                              | direct ms | gateway ms | ratio | target\n');
    process.stdout.write('---------------------|-----------------------------------|-----------|------------|-------|-------\n');
    for (const [name, work, direct, gw, target] of rows) {
      const ratio = gw / direct;
      process.stdout.write(
        `${name.padEnd(20)} | ${work.padEnd(33)} | ${direct.toFixed(0).padStart(9)} | ${gw.toFixed(0).padStart(10)} | ${ratio.toFixed(2).padStart(5)} | ≤ ${target}${ratio > target ? '  (over)' : ''}\n`,
      );
    }
  } finally {
    // Leave the bucket as it was: remove everything this run wrote.
    for await (const page of bucket.listAll(run)) await bucket.deleteMany(page.map((o) => o.key));
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
