import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type request from 'supertest';
import { idOf, keysUnder, listAll, byName, signIn, uniqueRoot, type Client } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { externalS3, waitFor } from '../support/processes.js';
import { s3Gate, type S3Call, type S3GateHandle } from '../support/s3-gate.js';
import { describeWithRealS3, describeWithRedis, uniquePrefix } from '../support/targets.js';

/**
 * The races of concurrent sync clients, each forced deterministically: a gate between the gateways and
 * S3 holds one operation at a chosen S3 call, the other operation is sent to the other gateway instance
 * (same Redis, same S3), and the test goes on once that one either waits for its turn or gets ahead —
 * the broken behaviour, which every test here fails on. Then the gate opens and the bucket is checked.
 */

const MiB = 1024 * 1024;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let s3: Awaited<ReturnType<typeof externalS3>>;
let gate: S3GateHandle;
let a: TestGateway;
let b: TestGateway;
let ca: Client;
let cb: Client;
let root: string;

const settle = (t: request.Test) => Promise.resolve(t);
const full = (rel: string) => root + rel;
const put = (rel: string, body: string | Buffer) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: full(rel), Body: Buffer.from(body) }));
async function read(rel: string): Promise<string | undefined> {
  try {
    const r = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: full(rel) }));
    return Buffer.from(await r.Body!.transformToByteArray()).toString();
  } catch {
    return undefined;
  }
}
const head = (rel: string) => s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: full(rel) }));
const keys = async (rel: string) => (await keysUnder(gatewayBucket(), full(rel))).map((k) => k.slice(full(rel).length)).sort();
const gatewayBucket = () => a.bucket;
const dir = () => `race-${randomBytes(4).toString('hex')}/`;

const rename = (c: Client, rel: string, name: string) => c.put(`/v2/gateway_metadata_name/${idOf(rel)}`, { 'new.gateway.metadata.name': name });
const move = (c: Client, rel: string, parentRel: string) =>
  c.put(`/v2/gateway_metadata_parent/${idOf(rel)}`, { 'new.gateway.metadata.parent.id': idOf(parentRel) });
const upload = (c: Client, parentRel: string, name: string, body: Buffer | string) =>
  c
    .post(`/v2/gateway_metadata_file/${idOf(parentRel)}`)
    .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': Buffer.byteLength(body) }))
    .send(body);
const replace = (c: Client, rel: string, body: Buffer | string) =>
  c
    .put(`/v2/gateway_metadata_file/${idOf(rel)}`)
    .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.file.size': Buffer.byteLength(body) }))
    .send(body);

/**
 * Sends `first` through gateway A and holds it at the S3 call `at` picks; sends `second` through gateway
 * B; opens the gate once B's operation waits for its turn, finished, or reached S3 itself. Answers both.
 */
async function interleave(at: (c: S3Call) => boolean, first: request.Test, second: () => request.Test) {
  const hold = gate.hold(at, 1);
  const one = settle(first);
  await hold.arrived();
  let secondDone = false;
  const two = settle(second()).finally(() => (secondDone = true));
  await waitFor(() => b.runtime.locks.waiting > 0 || secondDone, 'the second operation to wait for its turn, or to get ahead', 20_000);
  hold.release();
  return [await one, await two] as const;
}

const op = (operation: string, rel: string) => (c: S3Call) => c.operation === operation && c.key === full(rel);

describeWithRedis('concurrent writes through two gateway instances, each race forced', () => {
  beforeAll(async () => {
    root = uniqueRoot('races');
    s3 = await externalS3('races');
    gate = await s3Gate(s3.env.S3_ENDPOINT!);
    // (Sixteen uploads of one account at once: more than one account may run by default.)
    const env = {
      ...s3.env,
      S3_ENDPOINT: gate.url,
      REDIS_KEY_PREFIX: uniquePrefix('races'),
      UPLOAD_PART_SIZE: String(5 * MiB),
      LOCK_WAIT_MS: '20000',
      UPLOAD_STREAMS_PER_ACCOUNT: '16',
    };
    const started = await Promise.all([0, 1].map(() => startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env })));
    [a, b] = [started[0]!, started[1]!];
    [ca, cb] = await Promise.all([signIn(a.runtime.app, 'tester'), signIn(b.runtime.app, 'tester')]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await gate?.close();
    await s3?.stop();
  });

  it("two files renamed onto one new name: one 200, the other 409, both files' bytes kept", async () => {
    const d = dir();
    await Promise.all([put(`${d}a.txt`, 'A'), put(`${d}b.txt`, 'B')]);
    const [first, second] = await interleave(op('CopyObject', `${d}new.txt`), rename(ca, `${d}a.txt`, 'new.txt'), () => rename(cb, `${d}b.txt`, 'new.txt'));
    expect([first.status, second.status]).toEqual([200, 409]);
    expect(await keys(d)).toEqual(['b.txt', 'new.txt']);
    expect([await read(`${d}new.txt`), await read(`${d}b.txt`)]).toEqual(['A', 'B']);
  });

  it('a file renamed onto a name being uploaded: one 200, the other 409', async () => {
    const d = dir();
    await Promise.all([put(`${d}keep/`, ''), put(`${d}b.txt`, 'B')]);
    const [first, second] = await interleave(op('PutObject', `${d}x.txt`), upload(ca, d, 'x.txt', 'uploaded'), () => rename(cb, `${d}b.txt`, 'x.txt'));
    expect([first.status, second.status]).toEqual([200, 409]);
    expect([await read(`${d}x.txt`), await read(`${d}b.txt`)]).toEqual(['uploaded', 'B']);
  });

  it('a file replaced while it is renamed: the replace is not acknowledged for a file that left', async () => {
    const d = dir();
    await put(`${d}f.txt`, 'old');
    const [renamed, replaced] = await interleave(op('DeleteObject', `${d}f.txt`), rename(ca, `${d}f.txt`, 'g.txt'), () => replace(cb, `${d}f.txt`, 'new'));
    expect([renamed.status, replaced.status]).toEqual([200, 404]);
    expect(await keys(d)).toEqual(['g.txt']);
    expect(await read(`${d}g.txt`)).toBe('old');
  });

  it('a file renamed while a replace commits: the rename moves the new version', async () => {
    const d = dir();
    await put(`${d}f.txt`, 'old');
    const [replaced, renamed] = await interleave(op('PutObject', `${d}f.txt`), replace(ca, `${d}f.txt`, 'new'), () => rename(cb, `${d}f.txt`, 'g.txt'));
    expect([replaced.status, renamed.status]).toEqual([200, 200]);
    expect(await keys(d)).toEqual(['g.txt']);
    expect(await read(`${d}g.txt`)).toBe('new');
    expect(renamed.body['gateway.metadata.file.hash']).toBe(sha256('new'));
  });

  it('files replaced while their folder is moved: no acknowledged replace is lost', async () => {
    const d = dir();
    await Promise.all([put(`${d}F/one.txt`, 'one'), put(`${d}F/two.txt`, 'two'), put(`${d}T/`, '')]);
    const [moved, replaced] = await interleave(
      (c) => c.operation === 'DeleteObjects',
      move(ca, `${d}F/`, `${d}T/`),
      () => replace(cb, `${d}F/one.txt`, 'ONE'),
    );
    expect(moved.status).toBe(200);
    expect(replaced.status).toBe(404);
    expect(await keys(d)).toEqual(['T/', 'T/F/one.txt', 'T/F/two.txt']);
    // and the other way round: a replace that committed first is what the move carries
    const [replaced2, moved2] = await interleave(op('PutObject', `${d}T/F/two.txt`), replace(ca, `${d}T/F/two.txt`, 'TWO'), () => move(cb, `${d}T/F/`, d));
    expect([replaced2.status, moved2.status]).toEqual([200, 200]);
    expect(await read(`${d}F/two.txt`)).toBe('TWO');
    expect(await keys(`${d}T/`)).toEqual(['']);
  });

  it('one file renamed to two names, or moved into two folders, at once: one copy', async () => {
    const d = dir();
    await Promise.all([put(`${d}f.txt`, 'F'), put(`${d}P/`, ''), put(`${d}Q/`, ''), put(`${d}m.txt`, 'M')]);
    const [r1, r2] = await interleave(op('DeleteObject', `${d}f.txt`), rename(ca, `${d}f.txt`, 'g1.txt'), () => rename(cb, `${d}f.txt`, 'g2.txt'));
    expect([r1.status, r2.status]).toEqual([200, 404]);
    const [m1, m2] = await interleave(op('DeleteObject', `${d}m.txt`), move(ca, `${d}m.txt`, `${d}P/`), () => move(cb, `${d}m.txt`, `${d}Q/`));
    expect([m1.status, m2.status]).toEqual([200, 404]);
    expect(await keys(d)).toEqual(['P/', 'P/m.txt', 'Q/', 'g1.txt']);
  });

  it('folder X moved into Y while Y is moved into X: one 200, the other 409 (the job is under way), no folder inside itself', async () => {
    const d = dir();
    await Promise.all([put(`${d}X/x.txt`, 'x'), put(`${d}Y/y.txt`, 'y')]);
    const [xy, yx] = await interleave(
      (c) => c.operation === 'DeleteObjects',
      move(ca, `${d}X/`, `${d}Y/`),
      () => move(cb, `${d}Y/`, `${d}X/`),
    );
    expect([xy.status, yx.status]).toEqual([200, 409]);
    expect(await keys(d)).toEqual(['Y/X/x.txt', 'Y/y.txt']);
  });

  it('two replaces of one file at once: the stored and listed hash is the hash of the stored bytes', async () => {
    const d = dir();
    await put(`${d}big.bin`, 'v0');
    const v1 = randomBytes(6 * MiB);
    const v2 = randomBytes(6 * MiB);
    // Held: the first replace's copy onto itself, which records its computed sha256.
    const recordsHash = (c: S3Call) => c.operation === 'CopyObject' && c.key === full(`${d}big.bin`);
    const [first, second] = await interleave(recordsHash, replace(ca, `${d}big.bin`, v1), () => replace(cb, `${d}big.bin`, v2));
    expect([first.status, second.status]).toEqual([200, 200]);
    const stored = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: full(`${d}big.bin`) }));
    const bytes = Buffer.from(await stored.Body!.transformToByteArray());
    expect(sha256(bytes)).toBe(sha256(v2));
    expect(stored.Metadata?.['gw-sha256']).toBe(sha256(v2));
    const listed = byName((await listAll(ca, idOf(d))).entries, 'big.bin')!;
    expect(listed['gateway.metadata.file.hash']).toBe(sha256(v2));
  });

  it('records no hash for an object that another writer replaced right after the upload committed', async () => {
    const d = dir();
    await put(`${d}f.bin`, 'v0');
    const body = randomBytes(6 * MiB);
    let committed = false;
    // Held: the gateway's look at the object right after completing the upload.
    const hold = gate.hold((c) => {
      if (c.operation === 'CompleteMultipartUpload' && c.key === full(`${d}f.bin`)) committed = true;
      return committed && c.operation === 'HeadObject' && c.key === full(`${d}f.bin`);
    }, 1);
    const replaced = settle(replace(ca, `${d}f.bin`, body));
    await hold.arrived();
    const other = randomBytes(body.length);
    await put(`${d}f.bin`, other);
    hold.release();
    // Acknowledged (it was stored), then superseded by the other writer: whose bytes carry no hash of ours.
    expect((await replaced).status).toBe(200);
    expect((await head(`${d}f.bin`)).Metadata?.['gw-sha256']).toBeUndefined();
    const listed = byName((await listAll(ca, idOf(d))).entries, 'f.bin')!;
    expect(listed['gateway.metadata.file.hash']).not.toBe(sha256(body));
    expect(listed['gateway.metadata.file.hash']).toBe((await head(`${d}f.bin`)).ETag!.replaceAll('"', ''));
  });

  it('many creates of one name through both instances at once: exactly one 200, the rest 409, one object', async () => {
    const d = dir();
    await put(`${d}keep/`, '');
    const bodies = Array.from({ length: 16 }, (_, i) => `upload number ${i}`);
    const answers = await Promise.all(bodies.map((body, i) => settle(upload(i % 2 ? cb : ca, d, 'same.txt', body))));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    const winner = bodies[statuses.indexOf(200)];
    expect(await keys(d)).toEqual(['keep/', 'same.txt']);
    expect(await read(`${d}same.txt`)).toBe(winner);
  });

  it('answers 503 with Retry-After when a write cannot get its turn in time', async () => {
    const d = dir();
    await put(`${d}f.txt`, 'F');
    const impatient = await startTestGateway({
      store: 'redis',
      users: [{ name: 'tester', root }],
      env: { ...s3.env, S3_ENDPOINT: gate.url, REDIS_KEY_PREFIX: a.runtime.config.redis.keyPrefix, LOCK_WAIT_MS: '300' },
    });
    try {
      const ci = await signIn(impatient.runtime.app, 'tester');
      const hold = gate.hold(op('CopyObject', `${d}g.txt`), 1);
      const renaming = settle(rename(ca, `${d}f.txt`, 'g.txt'));
      await hold.arrived();
      const refused = await rename(ci, `${d}f.txt`, 'h.txt');
      hold.release();
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('2');
      expect(refused.body).toMatchObject({ error: 'unavailable', status: 503 });
      expect((await renaming).status).toBe(200);
      expect(await keys(d)).toEqual(['g.txt']);
    } finally {
      await impatient.close();
    }
  });
});

describeWithRealS3("S3's own conditions behind the locks (real S3 only)", () => {
  beforeAll(async () => {
    root = uniqueRoot('conditions');
    s3 = await externalS3('conditions');
    gate = await s3Gate(s3.env.S3_ENDPOINT!);
    a = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { ...s3.env, S3_ENDPOINT: gate.url } });
    ca = await signIn(a.runtime.app, 'tester');
  });
  afterAll(async () => {
    await a?.close();
    await gate?.close();
    await s3?.stop();
  });

  it("a new file's PUT carries If-None-Match: *, so a writer that bypasses the gateway is not overwritten", async () => {
    expect(a.bucket.profile.conditionalWrites).not.toBe('none');
    const d = dir();
    await put(`${d}keep/`, '');
    const hold = gate.hold(op('PutObject', `${d}x.txt`), 1);
    const uploading = settle(upload(ca, d, 'x.txt', 'from the gateway'));
    await hold.arrived();
    await put(`${d}x.txt`, 'from another tool');
    hold.release();
    expect((await uploading).status).toBe(409);
    expect(await read(`${d}x.txt`)).toBe('from another tool');
    expect(gate.calls.find((c) => c.operation === 'PutObject' && c.key === full(`${d}x.txt`))!.headers['if-none-match']).toBe('*');
  });

  it("a rename's copy is guarded by the version read under the lock, in the header the server reads", async () => {
    const d = dir();
    await put(`${d}f.txt`, 'read under the lock');
    const hold = gate.hold(op('CopyObject', `${d}g.txt`), 1);
    const renaming = settle(rename(ca, `${d}f.txt`, 'g.txt'));
    await hold.arrived();
    await put(`${d}f.txt`, 'changed by another tool');
    hold.release();
    expect((await renaming).status).toBe(409);
    expect(await keys(d)).toEqual(['f.txt']);
    expect(await read(`${d}f.txt`)).toBe('changed by another tool');
  });
});
