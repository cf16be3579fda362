import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { storeKeys } from '../../src/core/store-keys.js';
import { createHttpServer } from '../../src/http/server.js';
import { openUpload, signIn, uniqueRoot, type Client } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { waitFor } from '../support/processes.js';

/**
 * What one account can make the gateway hold with uploads: a bounded number of open segmented uploads
 * (each a multipart upload and a plan in the session store), and a bounded number of streamed uploads
 * running at once (each up to its part buffers), per account and in all.
 */
const MiB = 1024 * 1024;
const SEGMENT = 5 * MiB;

let gw: TestGateway;
let alice: Client;
let bob: Client;
let base: string;
let server: http.Server;
const root = uniqueRoot('upload-limits');

beforeAll(async () => {
  gw = await startTestGateway({
    store: 'memory',
    users: [
      { name: 'alice', root: `${root}alice/` },
      { name: 'bob', root: `${root}bob/` },
      { name: 'carol', root: `${root}carol/` },
      { name: 'dave', root: `${root}dave/` },
    ],
    env: {
      UPLOAD_SEGMENT_SIZE: String(SEGMENT),
      UPLOAD_PART_SIZE: String(SEGMENT),
      UPLOAD_SEGMENTED_MAX_OPEN: '2',
      UPLOAD_STREAMS_PER_ACCOUNT: '2',
      UPLOAD_STREAMS_MAX: '3',
    },
  });
  alice = await signIn(gw.runtime.app, 'alice');
  bob = await signIn(gw.runtime.app, 'bob');
  server = createHttpServer(gw.runtime.app, { maxHeaderBytes: 16384 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await gw.close();
});

const planOf = (c: Client, name: string, count = 2) => ({
  'gateway.metadata.parent.id': c.rootId,
  'gateway.metadata.name': name,
  'gateway.metadata.file.size': count * SEGMENT,
  'gateway.upload.segment': Array.from({ length: count }, (_, i) => ({
    'gateway.upload.segment.number': i + 1,
    'gateway.upload.segment.size': SEGMENT,
    'gateway.upload.segment.sha256': 'a'.repeat(64),
  })),
});
const start = (c: Client, name: string, count?: number) => c.post('/v2/gateway_upload', planOf(c, name, count));

describe('open segmented uploads', () => {
  it('are capped per account at UPLOAD_SEGMENTED_MAX_OPEN: one more is 429, another account is not affected, a cancel frees a place', async () => {
    const first = await start(alice, 'one.bin').expect(200);
    await start(alice, 'two.bin').expect(200);
    const refused = await start(alice, 'three.bin').expect(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.body).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/has 2 segmented uploads open/) });
    await start(bob, 'one.bin').expect(200);
    await alice.del(`/v2/gateway_upload/${first.body['gateway.upload.id']}`).expect(200);
    await start(alice, 'three.bin').expect(200);
    await start(alice, 'four.bin').expect(429);
  });

  it('cannot pass the cap together: of many starts at once, at most the cap succeed', async () => {
    const carol = await signIn(gw.runtime.app, 'carol');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => start(carol, `burst-${i}.bin`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(2);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
  });

  it('keep their plans compactly: 10,000 segments take under 500 KB in the session store', async () => {
    const dave = await signIn(gw.runtime.app, 'dave');
    const started = await start(dave, 'many.bin', 10_000).expect(200);
    const stored = await gw.runtime.store.get(storeKeys.upload(started.body['gateway.upload.id'] as string));
    expect(stored).not.toBeNull();
    expect(Buffer.byteLength(stored!)).toBeLessThan(500_000);
    await dave.del(`/v2/gateway_upload/${started.body['gateway.upload.id']}`).expect(200);
  });
});

describe('streamed uploads running at once', () => {
  /** An upload whose body is sent in part and held open: it runs until the test ends it. */
  const running = (c: Client, name: string) => {
    const req = openUpload(base, c.token, c.rootId, name, 2 * SEGMENT);
    const answer = new Promise<number>((resolve) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', () => resolve(0));
    });
    req.write(randomBytes(64 * 1024));
    return { req, answer };
  };
  const small = (c: Client, name: string) =>
    c
      .post(`/v2/gateway_metadata_file/${c.rootId}`)
      .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': 3 }))
      .send(Buffer.from('abc'));

  /** Multipart uploads open under a prefix: a large streamed upload opens one before it reads its body. */
  const openMultipart = async (prefix: string) =>
    ((await gw.bucket.client.send(new ListMultipartUploadsCommand({ Bucket: gw.bucket.name, Prefix: prefix }))).Uploads ?? []).length;

  it('are capped per account (429) and in all (503), each with Retry-After; places free up when uploads end', async () => {
    const held = [running(alice, 'held-1.bin'), running(alice, 'held-2.bin')];
    await waitFor(async () => (await openMultipart(`${root}alice/held-`)) === 2, "alice's two uploads to run");
    const perAccount = await small(alice, 'probe.txt').expect(429);
    expect(perAccount.headers['retry-after']).toBe('5');
    expect(perAccount.body.message).toMatch(/already has 2 uploads running/);
    // bob may still upload: his is the third in all, the most this instance runs
    held.push(running(bob, 'held-3.bin'));
    await waitFor(async () => (await openMultipart(`${root}bob/held-`)) === 1, "bob's upload to run");
    const inAll = await small(bob, 'probe.txt').expect(503);
    expect(inAll.headers['retry-after']).toBe('5');
    expect(inAll.body.message).toMatch(/Too many uploads are running/);
    for (const h of held) h.req.destroy();
    await Promise.all(held.map((h) => h.answer));
    await waitFor(async () => (await small(alice, 'after.txt')).status === 200, 'places to free up');
  });
});
