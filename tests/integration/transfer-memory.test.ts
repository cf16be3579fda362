import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createHttpServer } from '../../src/http/server.js';
import { EMBEDDED_CREDENTIALS } from '../../src/storage/s3/embedded.js';
import { idOf, signIn, uniqueRoot } from '../support/api.js';
import { startTestGateway } from '../support/gateway.js';
import { realS3 } from '../support/targets.js';

const MiB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

/** Bytes held in Buffers and other ArrayBuffers, after a full collection: what the process really keeps. */
function liveBuffers(): number {
  gc!();
  return process.memoryUsage().arrayBuffers;
}

async function s3Elsewhere(): Promise<{ env: Record<string, string>; stop(): void }> {
  if (realS3) return { env: {}, stop: () => undefined };
  const child = spawn(process.execPath, [fileURLToPath(new URL('../../scripts/embedded-s3.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`S3 process exited with ${code}`)));
  });
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: EMBEDDED_CREDENTIALS });
  await client.send(new CreateBucketCommand({ Bucket: 'memory-test' }));
  client.destroy();
  return {
    env: {
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: EMBEDDED_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: EMBEDDED_CREDENTIALS.secretAccessKey,
      S3_BUCKET: 'memory-test',
    },
    stop: () => child.kill('SIGTERM'),
  };
}

/** Beyond the part buffers: socket and stream buffers, the SDK's request objects. Stated, and small. */
const ALLOWANCE = 1 * MiB;

describe('memory per transfer', () => {
  it.each([1, 2])(
    'holds at most (UPLOAD_QUEUE_SIZE + 1) × UPLOAD_PART_SIZE, plus 1 MiB, while a 64 MiB upload streams through (queue %d)',
    async (queueSize) => {
      expect(gc).toBeDefined(); // npm test runs node with --expose-gc
      const partSize = 8 * MiB;
      const s3 = await s3Elsewhere();
      let closeServer: (() => Promise<void>) | undefined;
      const root = uniqueRoot('mem');
      const gw = await startTestGateway({
        store: 'memory',
        users: [{ name: 'tester', root }],
        env: { ...s3.env, UPLOAD_PART_SIZE: String(partSize), UPLOAD_QUEUE_SIZE: String(queueSize) },
      });
      try {
        const c = await signIn(gw.runtime.app, 'tester');
        await c.post(`/v2/gateway_metadata_folder/${c.rootId}`, { 'gateway.metadata.name': 'm' }).expect(200);
        const server = createHttpServer(gw.runtime.app, { maxHeaderBytes: 16384 });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        closeServer = () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
        const port = (server.address() as AddressInfo).port;
        const upload = (name: string, size: number) =>
          new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
            const req = http.request(
              {
                host: '127.0.0.1',
                port,
                method: 'POST',
                path: `/v2/gateway_metadata_file/${idOf('m/')}`,
                headers: {
                  Authorization: `Bearer ${c.token}`,
                  'X-Gateway-Upload': JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': size }),
                  'Content-Length': String(size),
                },
              },
              (res) => {
                let text = '';
                res.on('data', (d: Buffer) => (text += d.toString()));
                res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
              },
            );
            req.on('error', reject);
            // Generated while it is sent: the test holds no copy of the file either.
            Readable.from(
              (function* () {
                for (let sent = 0; sent < size; sent += 64 * 1024) yield Buffer.alloc(Math.min(64 * 1024, size - sent), sent % 251);
              })(),
            ).pipe(req);
          });
        expect((await upload('warm-up.bin', 2 * partSize + 1)).status).toBe(200);
        const baseline = Math.min(liveBuffers(), liveBuffers(), liveBuffers());
        let peak = 0;
        let samples = 0;
        const sampler = setInterval(() => {
          samples++;
          peak = Math.max(peak, liveBuffers() - baseline);
        }, 10);
        try {
          const res = await upload('big.bin', 64 * MiB);
          expect(res.status).toBe(200);
          expect(res.body['gateway.metadata.file.size']).toBe(64 * MiB);
        } finally {
          clearInterval(sampler);
        }
        expect(samples).toBeGreaterThanOrEqual(3); // the upload was watched, not missed
        expect(peak).toBeLessThanOrEqual((queueSize + 1) * partSize + ALLOWANCE);
      } finally {
        await closeServer?.();
        await gw.close();
        s3.stop();
      }
    },
    60_000,
  );
});
