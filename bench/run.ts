/**
 * `npm run bench`: the gateway against direct SDK calls to the same S3, in the same run, as ratios.
 *
 * The gateway runs as its own process (the built `dist/main.js`, as `npm start` runs it) so that its
 * peak RSS is its own. Cases (median of several rounds, direct and gateway interleaved):
 * - listing: every page of a 10,000-object folder, metadata cache warm, vs ListObjectsV2 page by page;
 * - folder rename: a 10,000-object folder (a job, answered when done), vs CopyObject of each at the same
 *   concurrency + DeleteObjects; BENCH_ONLY=rename runs only that (BENCH_RENAME_OBJECTS=100000 for the
 *   documented 100,000-object run);
 * - upload and download of a 1 GiB file, vs lib-storage Upload and GetObject with the same part size, and
 *   the same SDK calls through a bare Node pass-through proxy (bench/pass-through.ts): the least any Node
 *   hop costs on this machine. Each transfer runs in a lean client process (bench/transfer-client.ts);
 *   the CPU of S3, of the hop and of the client is reported per GiB;
 * - write ordering: a new folder through the gateway, and the locks of one write alone on Redis and in
 *   process, one writer and 64 at once (bench/locks.ts);
 * - metadata under load: BENCH_LOAD_CONNECTIONS clients (64) doing get-entry and listing for BENCH_LOAD_SEC
 *   (30 s) with autocannon, vs the same load of GetObject and ListObjectsV2 sent to S3 as presigned URLs
 *   (the same generator, and any S3 accepts them), with requests per second, p50/p99 and CPU per request;
 *   then each call alone at a steady half of S3's saturated rate (LIGHT_CONNECTIONS clients), and from one
 *   client one request at a time, where p50 shows the gateway's own latency rather than queueing for S3,
 *   beside its floor: the direct request through one bare Node hop, and the gateway's S3 call made directly
 *   through its adapter and the SDK;
 * - CPU per request of the gateway, each metadata call alone, beside bench/baseline.json (bench/cpu.ts);
 *   BENCH_ONLY=cpu runs only that;
 * - what the session store holds per session, open upload, cached entry and rate-limit counter, weighed in
 *   a redis-server of its own (bench/footprint.ts; `node .bench-build/bench/footprint.js` alone).
 *
 * S3 is the embedded server in a process of its own unless S3_ENDPOINT (and keys, bucket) are set (then
 * BENCH_S3_PID, the S3 server's process id on this machine, adds its CPU to the figures); sessions are
 * in the gateway's process unless REDIS_URL is set. BENCH_ROUNDS, BENCH_LIST_OBJECTS,
 * BENCH_RENAME_OBJECTS and BENCH_TRANSFER_MIB scale it.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { CopyObjectCommand, CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import autocannon from 'autocannon';
import pLimit from 'p-limit';
import { loadConfig } from '../src/config.js';
import { benchFootprint } from './footprint.js';
import { S3Bucket, copySource } from '../src/storage/s3/bucket.js';
import { createS3Client } from '../src/storage/s3/client.js';
import { EMBEDDED_CREDENTIALS } from '../src/storage/s3/embedded.js';
import { cpuPerRequest, median, type CpuCase } from './cpu.js';
import { benchLocks } from './locks.js';
import { generated, type TransferJob, type TransferResult } from './transfer-client.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LIST_OBJECTS = Number(process.env.BENCH_LIST_OBJECTS ?? 10_000);
const RENAME_OBJECTS = Number(process.env.BENCH_RENAME_OBJECTS ?? 10_000);
const RENAME_ROUNDS = Number(process.env.BENCH_RENAME_ROUNDS ?? 3);
const TRANSFER_BYTES = Number(process.env.BENCH_TRANSFER_MIB ?? 1024) * 1024 * 1024;
const TRANSFER_ROUNDS = Number(process.env.BENCH_TRANSFER_ROUNDS ?? 3);
const LOAD_SEC = Number(process.env.BENCH_LOAD_SEC ?? 30);
const LOAD_CONNECTIONS = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 64);
const LIGHT_CONNECTIONS = 8;
const CPU_SEC = Number(process.env.BENCH_CPU_SEC ?? 5);
const CPU_ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 3);
/** `cpu`: only the CPU-per-request cases (a few minutes instead of the whole run); `load`: only metadata under load; `rename`: only the folder rename. */
const ONLY = process.env.BENCH_ONLY;

/** CPU time a process has used so far, in ms (user + system, from /proc). */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
}

/** One timed transfer and the CPU each party used for it (ms; undefined where not measured). */
interface Transfer {
  ms: number;
  s3CpuMs: number | undefined;
  hopCpuMs: number | undefined;
  clientCpuMs: number;
}

/** The yardstick proxy forwards the Host header its clients signed (its own), so it only suits an S3 that does not route by Host. */
const isLoopback = (endpoint: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(endpoint).hostname);

/** Clients as fast as they can (`rate` absent: saturation), or together at a steady rate of requests per second. */
async function load(
  url: string,
  requests: autocannon.Request[],
  headers: Record<string, string> = {},
  opts: { connections: number; rate?: number; seconds?: number } = { connections: LOAD_CONNECTIONS },
): Promise<LoadResult> {
  const duration = opts.seconds ?? LOAD_SEC;
  const r = await autocannon({ url, connections: opts.connections, duration, requests, headers, ...(opts.rate ? { overallRate: opts.rate } : {}) });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, non2xx: r.non2xx + r.errors };
}
/**
 * One client making one call at a time for `seconds`, timed to the microsecond (autocannon reports whole
 * milliseconds, too coarse for a difference of about one): p50 and p99 in ms. `call` answers a status.
 */
async function oneAtATime(call: () => Promise<number>, seconds: number): Promise<LoadResult> {
  const times: number[] = [];
  let non2xx = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const started = performance.now();
    const status = await call();
    times.push(performance.now() - started);
    if (status < 200 || status > 299) non2xx++;
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => Number(times[Math.min(times.length - 1, Math.floor(times.length * q))]!.toFixed(2));
  return { rps: times.length / seconds, p50: at(0.5), p99: at(0.99), requests: times.length, non2xx };
}

const signedMs = (ms: number) => `${ms < 0 ? '' : '+'}${ms.toFixed(2)} ms`;

/** `oneAtATime` for one HTTP request, sent again and again over one kept-alive connection. */
async function httpOneAtATime(origin: string, request: autocannon.Request, headers: Record<string, string>, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(`${origin}${request.path}`, { method: request.method, headers, agent }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  try {
    return await oneAtATime(send, seconds);
  } finally {
    agent.destroy();
  }
}

const PASSWORD = 'bench-password-1';
/**
 * The Node flags `npm start` runs the gateway with (package.json), so the benchmark measures the same
 * process; BENCH_NODE_FLAGS (space-separated) tries others.
 */
const START_FLAGS = process.env.BENCH_NODE_FLAGS
  ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
  : [...(JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start.matchAll(/ (--[\w-]+=?\S*)/g)].map((m) => m[1]!);

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function seed(bucket: S3Bucket, keys: string[]): Promise<void> {
  const limit = pLimit(64);
  await Promise.all(keys.map((Key) => limit(() => bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key, Body: Buffer.from(`bench ${Key}`) })))));
}

/**
 * A node script as a child process, ready once its output matches `ready` (whose group is its URL). With
 * `outputFile` its standard output goes to that file, as a deployed gateway's goes to a log collector,
 * rather than through a pipe this busy process would have to drain (a full pipe stalls the writer).
 */
async function startProcess(script: string, env: Record<string, string>, ready: RegExp, nodeFlags: string[] = [], outputFile?: string) {
  const output = outputFile ? openSync(outputFile, 'w') : 'pipe';
  const child = spawn(process.execPath, [...nodeFlags, script], { env: { ...process.env, ...env }, stdio: ['ignore', output, 'inherit'] });
  if (typeof output === 'number') closeSync(output);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 30_000);
    const seen = (text: string) => {
      const m = ready.exec(text);
      if (!m) return false;
      clearTimeout(timer);
      resolve(m[1]!);
      return true;
    };
    if (child.stdout) {
      child.stdout.on('data', (d: Buffer) => void seen((out += d.toString())));
    } else {
      const poll = setInterval(() => {
        if (seen(readFileSync(outputFile!, 'utf8'))) clearInterval(poll);
      }, 50);
      child.once('exit', () => clearInterval(poll));
    }
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  child.stdout?.resume();
  return {
    child,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Runs one transfer in a lean client process with the gateway's Node flags; its answer is one JSON line. */
async function runTransfer(job: TransferJob): Promise<TransferResult> {
  const child = spawn(process.execPath, [...START_FLAGS, path.resolve('.bench-build/bench/transfer-client.js')], {
    env: { ...process.env, BENCH_TRANSFER: JSON.stringify(job) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${job.mode} transfer failed (exit ${code})`);
  return JSON.parse(out) as TransferResult;
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
            new CopyObjectCommand({
              Bucket: bucket.name,
              Key: to + o.key.slice(from.length),
              CopySource: copySource(bucket.name, o.key),
              MetadataDirective: 'COPY',
            }),
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
  const config = loadConfig({ ...process.env, DATA_DIR: dataDir });
  // The embedded S3 runs in a process of its own, as any S3 would: not in the client's, not in the gateway's.
  const embedded = config.s3.endpoint ? undefined : await startProcess(path.resolve('scripts/embedded-s3.mjs'), {}, /^(http:\/\/\S+)/m);
  const s3Env: Record<string, string> = embedded
    ? {
        S3_ENDPOINT: embedded.url,
        S3_ACCESS_KEY_ID: EMBEDDED_CREDENTIALS.accessKeyId,
        S3_SECRET_ACCESS_KEY: EMBEDDED_CREDENTIALS.secretAccessKey,
        S3_BUCKET: config.s3.bucket,
      }
    : {};
  const s3Endpoint = embedded?.url ?? config.s3.endpoint!;
  const clientOptions = {
    ...config.s3,
    endpoint: s3Endpoint,
    forcePathStyle: embedded ? true : config.s3.profile.forcePathStyle,
    checksums: config.s3.profile.checksums,
    accessKeyId: config.s3.accessKeyId ?? EMBEDDED_CREDENTIALS.accessKeyId,
    secretAccessKey: config.s3.secretAccessKey ?? EMBEDDED_CREDENTIALS.secretAccessKey,
  };
  const client = createS3Client(clientOptions);
  const bucket = new S3Bucket(client, config.s3.bucket);
  if (embedded) await client.send(new CreateBucketCommand({ Bucket: config.s3.bucket }));

  const gateway = await startProcess(
    path.resolve('dist/main.js'),
    // As deployed: the access log on (its lines go to a pipe the benchmark drains) and request limits counted,
    // but set far above this load, since one token from one address stands for many clients here.
    {
      ...s3Env,
      DATA_DIR: dataDir,
      PORT: '0',
      DEMO_PASSWORD: PASSWORD,
      USERS_FILE: '',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      RATE_LIMIT_PER_TOKEN: '10000000',
      RATE_LIMIT_PER_ADDRESS: '10000000',
      // A folder rename's request answers when its job is done or after this; its time is the job's (see below).
      FOLDER_JOB_WAIT_MS: '20000',
    },
    /ready at (http:\/\/\S+)/,
    START_FLAGS,
    path.join(dataDir, 'gateway.log'),
  );
  const base = gateway.url;
  // An S3 server of the operator's (S3_ENDPOINT) has its CPU counted too when BENCH_S3_PID names its process.
  const s3Pid = embedded?.child.pid ?? (process.env.BENCH_S3_PID ? Number(process.env.BENCH_S3_PID) : undefined);
  const peakRss = async () => Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${gateway.child.pid}/status`, 'utf8'))![1]) * 1024;

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

    const s3 = embedded ? 'embedded s3rver (its own process)' : config.s3.endpoint;
    process.stdout.write(
      `S3: ${s3}; session store: ${config.redis.url ? 'Redis' : 'in-process'}; medians of ${ROUNDS} rounds (${TRANSFER_ROUNDS} for transfers)\n\n`,
    );

    /** CPU per request of each metadata call alone, warm: the root entry (no S3), get-entry, a 100-entry and a 1,000-entry listing. */
    const cpuCases = async (page1000Folder: string) => {
      const loadFolder = `${run}cpu/`;
      await seed(
        bucket,
        Array.from({ length: 100 }, (_, i) => `${loadFolder}f${String(i).padStart(6, '0')}.txt`),
      );
      const entryKey = `${loadFolder}f000050.txt`;
      await gatewayListAll(loadFolder);
      await call('GET', `/v2/gateway_metadata_children/${b64(page1000Folder)}`);
      const url = async (u: Promise<string>) => new URL(await u);
      const cases: CpuCase[] = [
        { name: 'request overhead (root entry, no S3)', path: '/v2/gateway_metadata/root', baselineKey: 'overhead' },
        {
          name: 'get-entry (vs HeadObject, as GetObject)',
          path: `/v2/gateway_metadata/${b64(entryKey)}`,
          direct: await url(getSignedUrl(client, new GetObjectCommand({ Bucket: bucket.name, Key: entryKey }), { expiresIn: 3600 })),
          baselineKey: 'getEntry',
        },
        {
          name: 'list 100 entries (warm)',
          path: `/v2/gateway_metadata_children/${b64(loadFolder)}`,
          direct: await url(getSignedUrl(client, new ListObjectsV2Command({ Bucket: bucket.name, Prefix: loadFolder, Delimiter: '/' }), { expiresIn: 3600 })),
          entries: 100,
          baselineKey: 'list100',
        },
        {
          name: 'list a 1,000-entry page (warm)',
          path: `/v2/gateway_metadata_children/${b64(page1000Folder)}`,
          direct: await url(
            getSignedUrl(client, new ListObjectsV2Command({ Bucket: bucket.name, Prefix: page1000Folder, Delimiter: '/' }), { expiresIn: 3600 }),
          ),
          entries: 1000,
          baselineKey: 'list1000',
        },
      ];
      return cpuPerRequest(
        {
          base,
          auth: { Authorization: `Bearer ${token}` },
          gatewayPid: gateway.child.pid!,
          s3Pid,
          seconds: CPU_SEC,
          connections: LIGHT_CONNECTIONS,
          cpuMs,
          load,
        },
        cases,
        CPU_ROUNDS,
      );
    };

    const loadFolder = `${run}load/`;
    /** Metadata under load: saturated, at half of S3's saturated rate, and one request at a time; its report. */
    const metadataUnderLoad = async (): Promise<string> => {
      await seed(
        bucket,
        Array.from({ length: 100 }, (_, i) => `${loadFolder}f${String(i).padStart(6, '0')}.txt`),
      );
      const entryKey = `${loadFolder}f000050.txt`;
      await gatewayListAll(loadFolder); // warm, as a syncing client finds it
      // GetObject of the tiny object stands for HeadObject: autocannon waits for a body after a HEAD answer.
      const head = new URL(await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket.name, Key: entryKey }), { expiresIn: 3600 }));
      const listing = new URL(
        await getSignedUrl(client, new ListObjectsV2Command({ Bucket: bucket.name, Prefix: loadFolder, Delimiter: '/' }), { expiresIn: 3600 }),
      );
      const s3CpuBefore = s3Pid ? await cpuMs(s3Pid) : 0;
      const directRequests: autocannon.Request[] = [
        { method: 'GET', path: `${head.pathname}${head.search}` },
        { method: 'GET', path: `${listing.pathname}${listing.search}` },
      ];
      const gatewayRequests: autocannon.Request[] = [
        { method: 'GET', path: `/v2/gateway_metadata/${b64(entryKey)}` },
        { method: 'GET', path: `/v2/gateway_metadata_children/${b64(loadFolder)}` },
      ];
      const auth = { Authorization: `Bearer ${token}` };
      const direct = await load(head.origin, directRequests);
      const s3CpuDirect = s3Pid ? (await cpuMs(s3Pid)) - s3CpuBefore : 0;
      const gwCpuBefore = await cpuMs(gateway.child.pid!);
      const s3CpuBefore2 = s3Pid ? await cpuMs(s3Pid) : 0;
      const through = await load(base, gatewayRequests, auth);
      const gwCpu = (await cpuMs(gateway.child.pid!)) - gwCpuBefore;
      const s3CpuGateway = s3Pid ? (await cpuMs(s3Pid)) - s3CpuBefore2 : 0;
      const lightRate = Math.max(10, Math.floor(direct.rps / 2));
      const light = { connections: LIGHT_CONNECTIONS, rate: lightRate, seconds: Math.max(5, Math.round(LOAD_SEC / 2)) };
      const alone = { seconds: light.seconds };
      const lightRows: string[] = [];
      const aloneRows: string[] = [];
      const row = (name: string, d: LoadResult, g: LoadResult) =>
        `    ${name.padEnd(27)} direct p50 ${d.p50} ms, p99 ${d.p99} ms; gateway p50 ${g.p50} ms, p99 ${g.p99} ms: ` +
        `+${(g.p50 - d.p50).toFixed(2)} ms at p50 (${d.non2xx + g.non2xx} failed)\n`;
      // The floor under the one-at-a-time figures: the same direct request through one bare Node hop
      // (bench/pass-through.ts; it forwards the Host signed for S3), and the gateway's own S3 call made here
      // through the same adapter and SDK. The gateway pays both, then its own work.
      const bareHop = isLoopback(s3Endpoint)
        ? await startProcess(path.resolve('.bench-build/bench/pass-through.js'), { PASS_THROUGH_TARGET: s3Endpoint }, /^(http:\/\/\S+)/m, START_FLAGS)
        : undefined;
      const adapterCalls = [
        () => bucket.head(entryKey).then((h) => (h ? 200 : 404)),
        () => bucket.list(loadFolder, { delimiter: '/', maxKeys: config.files.pageSize }).then(() => 200),
      ];
      try {
        for (const [i, name] of ['get-entry (vs GetObject)', 'listing (vs ListObjectsV2)'].entries()) {
          lightRows.push(row(name, await load(head.origin, [directRequests[i]!], {}, light), await load(base, [gatewayRequests[i]!], auth, light)));
          const d = await httpOneAtATime(head.origin, directRequests[i]!, {}, alone.seconds);
          const hop = bareHop ? await httpOneAtATime(bareHop.url, directRequests[i]!, { host: head.host }, alone.seconds) : undefined;
          const sdk = await oneAtATime(adapterCalls[i]!, alone.seconds);
          aloneRows.push(
            row(name, d, await httpOneAtATime(base, gatewayRequests[i]!, auth, alone.seconds)) +
              `      floor: ${hop ? `one bare Node hop ${signedMs(hop.p50 - d.p50)}, ` : ''}` +
              `the adapter's ${i === 0 ? 'HeadObject' : 'ListObjectsV2'} through the SDK ${signedMs(sdk.p50 - d.p50)} at p50 ` +
              `(${(hop?.non2xx ?? 0) + sdk.non2xx} failed)\n`,
          );
        }
      } finally {
        await bareHop?.stop();
      }
      return (
        `\nmetadata under load (${LOAD_CONNECTIONS} clients, ${LOAD_SEC} s each, get-entry + listing of a 100-object folder, autocannon):\n` +
        `  direct S3 (presigned GET + ListObjectsV2) : ${direct.rps.toFixed(0)} req/s, p50 ${direct.p50} ms, p99 ${direct.p99} ms, ${direct.non2xx} failed\n` +
        `  through the gateway:                        ${through.rps.toFixed(0)} req/s, p50 ${through.p50} ms, p99 ${through.p99} ms, ${through.non2xx} failed\n` +
        `  ratios: throughput ${(through.rps / direct.rps).toFixed(2)}, p50 +${(through.p50 - direct.p50).toFixed(1)} ms, p99 +${(through.p99 - direct.p99).toFixed(1)} ms\n` +
        `  CPU per request: gateway ${(gwCpu / through.requests).toFixed(3)} ms` +
        (s3Pid
          ? `; S3 ${(s3CpuGateway / through.requests).toFixed(3)} ms through the gateway, ${(s3CpuDirect / direct.requests).toFixed(3)} ms direct\n`
          : '\n') +
        `  below saturation (each call alone at a steady ${lightRate} req/s, half of direct's saturated rate, ${LIGHT_CONNECTIONS} clients, ${light.seconds} s):\n` +
        lightRows.join('') +
        `  one client, one request at a time (${alone.seconds} s, timed to the microsecond):\n` +
        aloneRows.join('')
      );
    };
    if (ONLY === 'load') {
      process.stdout.write(await metadataUnderLoad());
      return;
    }

    if (ONLY === 'cpu') {
      const page = `${run}page/`;
      await seed(
        bucket,
        Array.from({ length: 1000 }, (_, i) => `${page}f${String(i).padStart(6, '0')}.txt`),
      );
      process.stdout.write(await cpuCases(page));
      const size = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB (${(bytes / 1024 ** 2).toFixed(0)} MiB)`;
      process.stdout.write(`gateway peak RSS: ${size(await peakRss())}\n`);
      return;
    }

    // ---- listing, warm cache
    const listFolder = `${run}list/`;
    await seed(
      bucket,
      Array.from({ length: LIST_OBJECTS }, (_, i) => `${listFolder}f${String(i).padStart(6, '0')}.txt`),
    );
    const warm = await gatewayListAll(listFolder);
    if (warm !== LIST_OBJECTS) throw new Error(`gateway listed ${warm} of ${LIST_OBJECTS}`);
    const listDirect: number[] = [];
    const listGateway: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      listDirect.push(await timed(() => directListAll(bucket, listFolder)));
      listGateway.push(await timed(() => gatewayListAll(listFolder)));
    }

    // ---- folder rename
    const concurrency = config.files.copyConcurrency;
    const rename = async () => {
      const direct: number[] = [];
      const viaGateway: number[] = [];
      for (let i = 0; i < RENAME_ROUNDS; i++) {
        const d = `${run}mv-direct-${i}/`;
        const g = `${run}mv-gateway-${i}/`;
        const files = (p: string) => Array.from({ length: RENAME_OBJECTS }, (_, k) => `${p}src/d${k % 10}/f${k}.txt`);
        await seed(bucket, [...files(d), ...files(g)]);
        direct.push(await timed(() => directMove(bucket, `${d}src/`, `${d}dst/`, concurrency)));
        // The request answers after FOLDER_JOB_WAIT_MS at most (an HTTP client gives up on a silent answer
        // after minutes); the job's time is until its source is empty.
        viaGateway.push(
          await timed(async () => {
            await call('PUT', `/v2/gateway_metadata_name/${b64(`${g}src/`)}`, { 'new.gateway.metadata.name': 'dst' });
            while (await bucket.hasAny(`${g}src/`)) await new Promise((r) => setTimeout(r, 100));
          }),
        );
      }
      return { direct: median(direct), gateway: median(viaGateway) };
    };
    if (ONLY === 'rename') {
      const r = await rename();
      process.stdout.write(
        `folder rename, ${RENAME_OBJECTS} objects, concurrency ${concurrency}, median of ${RENAME_ROUNDS}: direct ${r.direct.toFixed(0)} ms, gateway ${r.gateway.toFixed(0)} ms, ratio ${(r.gateway / r.direct).toFixed(2)} (target ≤ 1.2); gateway peak RSS ${((await peakRss()) / 1024 ** 2).toFixed(0)} MiB\n`,
      );
      return;
    }
    const renamed = await rename();

    // ---- 1 GiB upload and download
    const folder = `${run}transfer/`;
    await call('POST', `/v2/gateway_metadata_folder/${b64(run)}`, { 'gateway.metadata.name': 'transfer' });
    const sha = createHash('sha256');
    for await (const chunk of generated(TRANSFER_BYTES)) sha.update(chunk as Buffer);
    const digest = sha.digest('hex');
    // Every transfer runs in a lean client process of its own (bench/transfer-client.ts) with the gateway's
    // Node flags, and is charged the CPU that S3 (when embedded), the hop in between (the gateway or the
    // yardstick proxy) and the client used: on a small machine all of them share the cores.
    const yardstick = isLoopback(s3Endpoint)
      ? await startProcess(path.resolve('.bench-build/bench/pass-through.js'), { PASS_THROUGH_TARGET: s3Endpoint }, /^(http:\/\/\S+)/m, START_FLAGS)
      : undefined;
    const transfers = new Map<string, Transfer[]>();
    const measure = async (name: string, hopPid: number | undefined, job: TransferJob) => {
      const before = { s3: s3Pid ? await cpuMs(s3Pid) : 0, hop: hopPid ? await cpuMs(hopPid) : 0 };
      const result = await runTransfer(job);
      const t: Transfer = {
        ms: result.ms,
        s3CpuMs: s3Pid ? (await cpuMs(s3Pid)) - before.s3 : undefined,
        hopCpuMs: hopPid ? (await cpuMs(hopPid)) - before.hop : undefined,
        clientCpuMs: result.cpuMs,
      };
      transfers.set(name, [...(transfers.get(name) ?? []), t]);
    };
    const sdk = (mode: 'sdk-upload' | 'sdk-download', key: string, endpoint = s3Endpoint): TransferJob => ({
      mode,
      s3: { ...clientOptions, endpoint, forcePathStyle: endpoint === s3Endpoint ? clientOptions.forcePathStyle : true },
      bucket: bucket.name,
      key: `${folder}${key}`,
      bytes: TRANSFER_BYTES,
      partSize: config.transfers.partSize,
      queueSize: config.transfers.queueSize,
    });
    const gatewayUpload = (name: string, declareSha: boolean): TransferJob => ({
      mode: 'http-upload',
      url: `${base}/v2/gateway_metadata_file/${b64(folder)}`,
      headers: {
        Authorization: `Bearer ${token}`,
        'X-Gateway-Upload': JSON.stringify({
          'gateway.metadata.name': name,
          'gateway.metadata.file.size': TRANSFER_BYTES,
          ...(declareSha ? { 'gateway.metadata.file.sha256': digest } : {}),
        }),
      },
      bytes: TRANSFER_BYTES,
    });
    const gatewayDownload = (name: string): TransferJob => ({
      mode: 'http-download',
      url: `${base}/v2/gateway_file/${b64(`${folder}${name}`)}`,
      headers: { Authorization: `Bearer ${token}` },
      bytes: TRANSFER_BYTES,
    });
    const gatewayPid = gateway.child.pid;
    const proxyPid = yardstick?.child.pid;
    for (let i = 0; i < TRANSFER_ROUNDS; i++) {
      await measure('upload direct', undefined, sdk('sdk-upload', `direct-${i}.bin`));
      if (yardstick) await measure('upload proxy', proxyPid, sdk('sdk-upload', `proxy-${i}.bin`, yardstick.url));
      await measure('upload gateway', gatewayPid, gatewayUpload(`gateway-${i}.bin`, true));
      await measure('upload gateway no sha', gatewayPid, gatewayUpload(`gateway-nosha-${i}.bin`, false));
      await measure('download direct', undefined, sdk('sdk-download', `direct-${i}.bin`));
      if (yardstick) await measure('download proxy', proxyPid, sdk('sdk-download', `direct-${i}.bin`, yardstick.url));
      await measure('download gateway', gatewayPid, gatewayDownload(`gateway-${i}.bin`));
    }
    await yardstick?.stop();
    const transferRss = await peakRss();
    // ---- metadata under load
    const loadText = await metadataUnderLoad();

    const cpuText = await cpuCases(listFolder);

    // ---- one write at a time through the gateway: what the write ordering's cost is a share of
    const folders: number[] = [];
    for (let i = 0; i < 300; i++)
      folders.push(await timed(() => call('POST', `/v2/gateway_metadata_folder/${b64(loadFolder)}`, { 'gateway.metadata.name': `new-${i}` })));

    const rss = await peakRss();

    const mibPerSec = (ms: number) => TRANSFER_BYTES / 1024 / 1024 / (ms / 1000);
    const runs = (name: string) => transfers.get(name) ?? [];
    const msOf = (name: string) => median(runs(name).map((t) => t.ms));
    const upDirect = msOf('upload direct');
    const downDirect = msOf('download direct');
    const rows = [
      ['listing, warm cache', `${LIST_OBJECTS} objects, all pages`, median(listDirect), median(listGateway), '≤ 1.3 (time)'],
      ['folder rename', `${RENAME_OBJECTS} objects, concurrency ${concurrency}`, renamed.direct, renamed.gateway, '≤ 1.2 (time)'],
      ['upload, sha256 given', `${TRANSFER_BYTES / 1024 ** 2} MiB`, upDirect, msOf('upload gateway'), '≥ 0.85 (speed)'],
      ['upload, no sha256', `${TRANSFER_BYTES / 1024 ** 2} MiB, + metadata copy`, upDirect, msOf('upload gateway no sha'), '≥ 0.85 (speed)'],
      ['download', `${TRANSFER_BYTES / 1024 ** 2} MiB`, downDirect, msOf('download gateway'), '≥ 0.9 (speed)'],
    ] as const;
    process.stdout.write('case                 | work                              | direct ms | gateway ms | time ratio | speed ratio | target\n');
    process.stdout.write('---------------------|-----------------------------------|-----------|------------|------------|-------------|---------------\n');
    for (const [name, work, direct, gw, target] of rows) {
      process.stdout.write(
        `${name.padEnd(20)} | ${work.padEnd(33)} | ${direct.toFixed(0).padStart(9)} | ${gw.toFixed(0).padStart(10)} | ${(gw / direct).toFixed(2).padStart(10)} | ${(direct / gw).toFixed(2).padStart(11)} | ${target}\n`,
      );
    }
    // CPU seconds per GiB moved, median over the rounds; '-' where that party was not measured.
    const perGiB = (name: string, cpu: (t: Transfer) => number | undefined) => {
      const values = runs(name).map(cpu);
      return values.some((v) => v === undefined) ? '   -' : (median(values as number[]) / 1000 / (TRANSFER_BYTES / 1024 ** 3)).toFixed(2);
    };
    const transferLine = (label: string, name: string, directName: string, proxyName?: string) => {
      if (runs(name).length === 0) return `  ${label.padEnd(30)} not run (the yardstick needs an S3 on loopback)\n`;
      const busy = median(runs(name).map((t) => ((t.s3CpuMs ?? 0) + (t.hopCpuMs ?? 0) + t.clientCpuMs) / t.ms));
      const vsProxy = proxyName && runs(proxyName).length ? `, ${(msOf(proxyName) / msOf(name)).toFixed(2)} of the bare proxy's` : '';
      return (
        `  ${label.padEnd(30)} ${mibPerSec(msOf(name)).toFixed(0).padStart(5)} MiB/s ${(msOf(directName) / msOf(name)).toFixed(2).padStart(5)}×` +
        ` | CPU s/GiB: S3 ${perGiB(name, (t) => t.s3CpuMs)}, hop ${perGiB(name, (t) => t.hopCpuMs)}, client ${perGiB(name, (t) => t.clientCpuMs)}` +
        ` | ${s3Pid ? `${busy.toFixed(1)} cores busy` : 'S3 CPU not seen'}${vsProxy}\n`
      );
    };
    process.stdout.write(
      `\ntransfers of ${TRANSFER_BYTES / 1024 ** 2} MiB (median of ${TRANSFER_ROUNDS}): speed, speed vs direct, CPU per GiB of S3, of the hop in between and of the client,\n` +
        `and the cores all of them kept busy (this machine has ${availableParallelism()}). The bare proxy is the least any Node hop costs here.\n` +
        transferLine('upload direct (lib-storage)', 'upload direct', 'upload direct') +
        transferLine('upload via a bare Node proxy', 'upload proxy', 'upload direct') +
        transferLine('upload via the gateway', 'upload gateway', 'upload direct', 'upload proxy') +
        transferLine('  same, no sha256 declared', 'upload gateway no sha', 'upload direct', 'upload proxy') +
        transferLine('download direct (GetObject)', 'download direct', 'download direct') +
        transferLine('download via a bare Node proxy', 'download proxy', 'download direct') +
        transferLine('download via the gateway', 'download gateway', 'download direct', 'download proxy'),
    );
    process.stdout.write(loadText);
    process.stdout.write(cpuText);
    process.stdout.write(
      `\na new folder through the gateway, one at a time (${config.redis.url ? 'Redis' : 'in-process store'}; a check and a write to S3 holding the name): p50 ${median(folders).toFixed(2)} ms` +
        (await benchLocks(process.env.REDIS_URL)) +
        (await benchFootprint()),
    );
    const size = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB (${(bytes / 1024 ** 2).toFixed(0)} MiB)`;
    process.stdout.write(`gateway peak RSS: after the transfers ${size(transferRss)} (target < 200 MB); after every case ${size(rss)}\n`);
  } finally {
    // Leave the bucket as it was: remove everything this run wrote.
    for await (const page of bucket.listAll(run)) await bucket.deleteMany(page.map((o) => o.key));
    await gateway.stop();
    client.destroy();
    await embedded?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
