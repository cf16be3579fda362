/**
 * One transfer of the benchmark, run as a process of its own: the direct SDK transfer and the one through
 * the gateway get the same lean client, instead of sharing the benchmark's process (the SDK, autocannon and
 * every earlier case's garbage) and its costs. `BENCH_TRANSFER` holds the job as JSON; the answer is one JSON
 * line on stdout: how long it took, the bytes moved and the CPU this client used.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client, type S3ClientOptions } from '../src/storage/s3/client.js';

export type TransferJob =
  | { mode: 'sdk-upload' | 'sdk-download'; s3: S3ClientOptions; bucket: string; key: string; bytes: number; partSize: number; queueSize: number }
  | { mode: 'http-upload' | 'http-download'; url: string; headers: Record<string, string>; bytes: number };

export interface TransferResult {
  ms: number;
  bytes: number;
  cpuMs: number;
}

/** A body generated while it is read, the same bytes every time (no file, no copy in memory). */
export function generated(size: number): Readable {
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31) & 0xff;
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < size; sent += block.length) yield block.subarray(0, Math.min(block.length, size - sent));
    })(),
  );
}

async function drain(body: Readable): Promise<number> {
  let n = 0;
  body.on('data', (chunk: Buffer) => (n += chunk.length));
  await new Promise<void>((resolve, reject) => body.once('end', resolve).once('error', reject));
  return n;
}

function httpCall(job: Extract<TransferJob, { url: string }>): Promise<number> {
  return new Promise((resolve, reject) => {
    const upload = job.mode === 'http-upload';
    const req = http.request(
      job.url,
      { method: upload ? 'POST' : 'GET', headers: upload ? { ...job.headers, 'Content-Length': String(job.bytes) } : job.headers },
      (res) => {
        const status = res.statusCode ?? 0;
        drain(res).then((n) => (status === 200 ? resolve(upload ? job.bytes : n) : reject(new Error(`${job.mode}: HTTP ${status}`))), reject);
      },
    );
    req.on('error', reject);
    if (upload) pipeline(generated(job.bytes), req).catch(reject);
    else req.end();
  });
}

async function sdkCall(job: Extract<TransferJob, { s3: S3ClientOptions }>): Promise<number> {
  const client = createS3Client(job.s3);
  try {
    if (job.mode === 'sdk-upload') {
      const params = { Bucket: job.bucket, Key: job.key, Body: generated(job.bytes) };
      await new Upload({ client, partSize: job.partSize, queueSize: job.queueSize, params }).done();
      return job.bytes;
    }
    return await drain((await client.send(new GetObjectCommand({ Bucket: job.bucket, Key: job.key }))).Body as Readable);
  } finally {
    client.destroy();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_TRANSFER ?? '') as TransferJob;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const bytes = 'url' in job ? await httpCall(job) : await sdkCall(job);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (bytes !== job.bytes) throw new Error(`${job.mode}: moved ${bytes} bytes, expected ${job.bytes}`);
  process.stdout.write(`${JSON.stringify({ ms, bytes, cpuMs: (used.user + used.system) / 1000 } satisfies TransferResult)}\n`);
}

if (process.env.BENCH_TRANSFER) await main();
