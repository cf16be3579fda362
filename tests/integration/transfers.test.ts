import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import request from 'supertest';
import { createHttpServer } from '../../src/http/server.js';
import { binary, byName, idOf, keysUnder, listAll, openUpload, seed, signIn, uniqueRoot, type Client } from '../support/api.js';
import { sameS3, startTestGateway, type TestGateway } from '../support/gateway.js';
import { waitFor } from '../support/processes.js';

const MiB = 1024 * 1024;
const SEGMENT = 5 * MiB;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let gw: TestGateway;
let root: string;
let c: Client;
let ro: Client;

beforeAll(async () => {
  root = uniqueRoot('xfer');
  gw = await startTestGateway({
    store: 'memory',
    users: [
      { name: 'tester', root },
      { name: 'reader', root, readOnly: true },
    ],
    env: { UPLOAD_PART_SIZE: String(5 * MiB), UPLOAD_QUEUE_SIZE: '2', UPLOAD_SEGMENT_SIZE: String(SEGMENT) },
  });
  c = await signIn(gw.runtime.app, 'tester');
  ro = await signIn(gw.runtime.app, 'reader');
});
afterAll(() => gw.close());

const bucket = () => gw.bucket;
const keys = async (rel: string) => (await keysUnder(bucket(), root + rel)).map((k) => k.slice(root.length));
const uploadHeader = (fields: Record<string, unknown>) => JSON.stringify(fields);

function uploadNew(parentId: string, name: string, body: Buffer, extra: Record<string, unknown> = {}) {
  return c
    .post(`/v2/gateway_metadata_file/${parentId}`)
    .set(
      'X-Gateway-Upload',
      uploadHeader({
        'gateway.metadata.name': encodeURIComponent(name),
        'gateway.metadata.modified': 1_700_000_000_000,
        'gateway.metadata.file.size': body.length,
        ...extra,
      }),
    )
    .set('Content-Type', 'application/octet-stream')
    .send(body);
}

async function download(id: string): Promise<Buffer> {
  const res = await c.get(`/v2/gateway_file/${id}`).buffer(true).parse(binary).expect(200);
  return res.body as Buffer;
}

describe('uploads in one request', () => {
  beforeAll(() => c.post(`/v2/gateway_metadata_folder/${c.rootId}`, { 'gateway.metadata.name': 'up' }).expect(200));

  it.each([
    ['zero bytes', 0],
    ['a small file', 1234],
    ['64 MiB (multipart)', 64 * MiB],
  ])("round-trip %s byte-identical, with the client's modified time and the sha256 as hash", async (_what, size) => {
    const body = randomBytes(size);
    const name = `file-${size}.bin`;
    const res = await uploadNew(idOf('up/'), name, body).expect(200);
    expect(res.body).toMatchObject({
      'gateway.metadata.id': idOf(`up/${name}`),
      'gateway.metadata.parent.id': idOf('up/'),
      'gateway.metadata.type': 'file',
      'gateway.metadata.name': name,
      'gateway.metadata.modified': 1_700_000_000_000,
      'gateway.metadata.file.size': size,
      'gateway.metadata.file.hash': sha256(body),
    });
    expect(sha256(await download(idOf(`up/${name}`)))).toBe(sha256(body));
    // every endpoint agrees, and the sha256 lives in the object's metadata
    expect(byName((await listAll(c, idOf('up/'))).entries, name)).toEqual(res.body);
    const head = await bucket().client.send(new HeadObjectCommand({ Bucket: bucket().name, Key: `${root}up/${name}` }));
    expect(head.Metadata).toMatchObject({ 'gw-sha256': sha256(body), 'gw-modified': '1700000000000' });
    expect(head.ContentType).toBe('application/octet-stream');
  });

  it('stores the content type from the file name, and keeps a declared sha256 without rewriting', async () => {
    const body = Buffer.from('<p>hello</p>');
    await uploadNew(idOf('up/'), 'page.html', body, { 'gateway.metadata.file.sha256': sha256(body).toUpperCase() }).expect(200);
    const head = await bucket().client.send(new HeadObjectCommand({ Bucket: bucket().name, Key: `${root}up/page.html` }));
    expect(head.ContentType).toMatch(/^text\/html/);
    expect(head.Metadata!['gw-sha256']).toBe(sha256(body));
  });

  it('round-trips names with spaces, unicode and reserved characters', async () => {
    const name = 'ü 😀 + % # ? & = ;.txt';
    const res = await uploadNew(idOf('up/'), name, Buffer.from('x')).expect(200);
    expect(res.body['gateway.metadata.name']).toBe(name);
    expect(await keys('up/')).toContain(`up/${name}`);
  });

  it.each([
    ['a shorter body than declared', Buffer.alloc(1000, 1), { 'gateway.metadata.file.size': 2000 }, /gateway\.metadata\.file\.size/],
    ['a longer body than declared', Buffer.alloc(3000, 1), { 'gateway.metadata.file.size': 2000 }, /gateway\.metadata\.file\.size/],
    ['a wrong sha256', Buffer.alloc(6 * MiB, 2), { 'gateway.metadata.file.sha256': 'b'.repeat(64) }, /gateway\.metadata\.file\.sha256/],
  ])('refuses %s with 400 naming the mismatch, storing nothing', async (_what, body, extra, field) => {
    const name = `bad-${randomBytes(3).toString('hex')}.bin`;
    const res = await c
      .post(`/v2/gateway_metadata_file/${idOf('up/')}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': body.length, ...extra }))
      .send(body)
      .catch((e: { response?: request.Response }) => e.response!);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(field);
    expect(await keys('up/')).not.toContain(`up/${name}`);
  });

  it('refuses a body that streams past its declared size (no Content-Length) and stores nothing', async () => {
    const { port, close } = await listen();
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: `/v2/gateway_metadata_file/${idOf('up/')}`,
            headers: {
              Authorization: `Bearer ${c.token}`,
              'X-Gateway-Upload': uploadHeader({ 'gateway.metadata.name': 'chunked.bin', 'gateway.metadata.file.size': 10 }),
              'Transfer-Encoding': 'chunked',
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on('error', reject);
        req.write(Buffer.alloc(5));
        req.end(Buffer.alloc(10));
      });
      expect(status).toBe(400);
      expect(await keys('up/')).not.toContain('up/chunked.bin');
    } finally {
      await close();
    }
  });

  it('commits nothing when the client hangs up half-way, and leaves no multipart upload behind', async () => {
    const { port, close } = await listen();
    try {
      const open = async () =>
        (await bucket().client.send(new ListMultipartUploadsCommand({ Bucket: bucket().name, Prefix: `${root}up/hangup` }))).Uploads ?? [];
      const req = openUpload(`http://127.0.0.1:${port}`, c.token, idOf('up/'), 'hangup.bin', 40 * MiB);
      req.write(randomBytes(12 * MiB));
      // parts are on their way to S3 when the client hangs up
      await waitFor(async () => (await open()).length > 0, 'the upload to reach S3');
      req.destroy();
      await waitFor(async () => (await open()).length === 0, 'the gateway to abort the multipart upload');
      expect(await keys('up/')).not.toContain('up/hangup.bin');
    } finally {
      await close();
    }
  });

  it('answers 409 for a new file whose name exists, and 400 for bad headers', async () => {
    await seed(bucket(), [`${root}up/taken.txt`]);
    await uploadNew(idOf('up/'), 'taken.txt', Buffer.from('new')).expect(409);
    await c.post(`/v2/gateway_metadata_folder/${idOf('up/')}`, { 'gateway.metadata.name': 'dir-taken' }).expect(200);
    await uploadNew(idOf('up/'), 'dir-taken', Buffer.from('new')).expect(409);
    const noHeader = await c
      .post(`/v2/gateway_metadata_file/${idOf('up/')}`)
      .send(Buffer.from('x'))
      .expect(400);
    expect(noHeader.body.field).toBe('X-Gateway-Upload');
    const badJson = await c
      .post(`/v2/gateway_metadata_file/${idOf('up/')}`)
      .set('X-Gateway-Upload', '{nope')
      .send(Buffer.from('x'))
      .expect(400);
    expect(badJson.body.message).toMatch(/not valid JSON/);
    const noSize = await c
      .post(`/v2/gateway_metadata_file/${idOf('up/')}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.name': 'n.txt' }))
      .send(Buffer.from('x'))
      .expect(400);
    expect(noSize.body.field).toBe('gateway.metadata.file.size');
    await uploadNew(idOf('up/'), '..', Buffer.from('x')).expect(400);
    await uploadNew(idOf('nope/'), 'x.txt', Buffer.from('x')).expect(404);
  });

  it('refuses writes of read-only accounts with 403', async () => {
    await ro
      .post(`/v2/gateway_metadata_file/${idOf('up/')}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.name': 'ro.txt', 'gateway.metadata.file.size': 1 }))
      .send(Buffer.from('x'))
      .expect(403);
  });
});

describe('updates', () => {
  it('replace the content and modified time, keeping the id', async () => {
    const first = await uploadNew(idOf('up/'), 'doc.txt', Buffer.from('version 1')).expect(200);
    const v2 = Buffer.from('version two');
    const res = await c
      .put(`/v2/gateway_metadata_file/${first.body['gateway.metadata.id']}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.modified': 1_800_000_000_000, 'gateway.metadata.file.size': v2.length }))
      .send(v2)
      .expect(200);
    expect(res.body).toMatchObject({
      'gateway.metadata.id': first.body['gateway.metadata.id'],
      'gateway.metadata.modified': 1_800_000_000_000,
      'gateway.metadata.file.hash': sha256(v2),
    });
    expect((await download(first.body['gateway.metadata.id'])).toString()).toBe('version two');
  });

  it('leave the previous version readable when they fail', async () => {
    const first = await uploadNew(idOf('up/'), 'keep.txt', Buffer.from('the good version')).expect(200);
    const big = randomBytes(12 * MiB);
    await c
      .put(`/v2/gateway_metadata_file/${first.body['gateway.metadata.id']}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.file.size': big.length, 'gateway.metadata.file.sha256': 'c'.repeat(64) }))
      .send(big)
      .expect(400);
    expect((await download(first.body['gateway.metadata.id'])).toString()).toBe('the good version');
  });

  it('of a missing file answer 404, of a folder 400', async () => {
    await c
      .put(`/v2/gateway_metadata_file/${idOf('up/missing.txt')}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.file.size': 1 }))
      .send(Buffer.from('x'))
      .expect(404);
    await c
      .put(`/v2/gateway_metadata_file/${idOf('up/')}`)
      .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.file.size': 1 }))
      .send(Buffer.from('x'))
      .expect(400);
  });
});

describe('downloads', () => {
  let id: string;
  let body: Buffer;
  beforeAll(async () => {
    body = randomBytes(100_000);
    id = (await uploadNew(c.rootId, 'dl.bin', body).expect(200)).body['gateway.metadata.id'];
  });

  it('send Content-Length, Content-Type, ETag and Last-Modified', async () => {
    const res = await c.get(`/v2/gateway_file/${id}`).buffer(true).expect(200);
    expect(res.headers['content-length']).toBe('100000');
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers.etag).toMatch(/^"/);
    expect(new Date(res.headers['last-modified']!).getTime()).toBeGreaterThan(0);
  });

  it('answer a single range with 206', async () => {
    const res = await c.get(`/v2/gateway_file/${id}`).set('Range', 'bytes=100-199').buffer(true).parse(binary).expect(206);
    expect(res.headers['content-range']).toBe('bytes 100-199/100000');
    expect(Buffer.compare(res.body as Buffer, body.subarray(100, 200))).toBe(0);
    const tail = await c.get(`/v2/gateway_file/${id}`).set('Range', 'bytes=-10').buffer(true).parse(binary).expect(206);
    expect(Buffer.compare(tail.body as Buffer, body.subarray(-10))).toBe(0);
    await c.get(`/v2/gateway_file/${id}`).set('Range', 'bytes=200000-').expect(416);
  });

  it('answer If-None-Match with 304, and HEAD without a body', async () => {
    const etag = (await c.get(`/v2/gateway_file/${id}`).buffer(true).expect(200)).headers.etag!;
    await c.get(`/v2/gateway_file/${id}`).set('If-None-Match', etag).expect(304);
    const head = await request(gw.runtime.app).head(`/v2/gateway_file/${id}`).set('Authorization', `Bearer ${c.token}`).expect(200);
    expect(head.headers['content-length']).toBe('100000');
    expect(head.headers.etag).toBe(etag);
  });

  it("name a version with one ETag: the entry's hash, quoted, also in HEAD and If-None-Match", async () => {
    const entry = byName((await listAll(c, c.rootId)).entries, 'dl.bin')!;
    expect(entry['gateway.metadata.file.hash']).toBe(sha256(body));
    const res = await c.get(`/v2/gateway_file/${id}`).buffer(true).expect(200);
    expect(res.headers.etag).toBe(`"${sha256(body)}"`);
    await c
      .get(`/v2/gateway_file/${id}`)
      .set('If-None-Match', `"other", W/"${sha256(body)}"`)
      .expect(304);
    await c.get(`/v2/gateway_file/${id}`).set('If-None-Match', '"other"').expect(200);
  });

  describe('byte ranges (RFC 9110), streamed and in redirect mode', () => {
    const hundred = randomBytes(100);
    let redirecting: TestGateway;
    let rc: Client;
    beforeAll(async () => {
      await uploadNew(c.rootId, 'hundred.bin', hundred).expect(200);
      await uploadNew(c.rootId, 'empty.bin', Buffer.alloc(0)).expect(200);
      redirecting = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { ...sameS3(gw), DOWNLOAD_MODE: 'redirect' } });
      rc = await signIn(redirecting.runtime.app, 'tester');
    });
    afterAll(() => redirecting.close());

    /** What a client ends up with: status, Content-Range and body, following a redirect with the same Range. */
    async function fetchRange(client: Client, name: string, range: string) {
      const first = await client
        .get(`/v2/gateway_file/${idOf(name)}`)
        .set('Range', range)
        .buffer(true)
        .parse(binary);
      if (first.status !== 302)
        return {
          status: first.status,
          contentRange: first.headers['content-range'],
          body: first.body as Buffer,
          json: first.status >= 400 ? JSON.parse((first.body as Buffer).toString()) : undefined,
        };
      const followed = await fetch(first.headers.location!, { headers: { Range: range } });
      return {
        status: followed.status,
        contentRange: followed.headers.get('content-range') ?? undefined,
        body: Buffer.from(await followed.arrayBuffer()),
        json: undefined,
      };
    }

    it.each([
      ['hundred.bin', 'bytes=0-0', 206, 'bytes 0-0/100', [0, 1]],
      ['hundred.bin', 'bytes=-500', 206, 'bytes 0-99/100', [0, 100]],
      ['hundred.bin', 'bytes=90-1000', 206, 'bytes 90-99/100', [90, 100]],
      ['hundred.bin', 'bytes=99-', 206, 'bytes 99-99/100', [99, 100]],
      ['hundred.bin', 'bytes=-0', 416, 'bytes */100', undefined],
      ['hundred.bin', 'bytes=100-', 416, 'bytes */100', undefined],
      ['hundred.bin', 'bytes=0-1,5-6', 200, undefined, [0, 100]],
      ['hundred.bin', 'bytes=5-2', 200, undefined, [0, 100]],
      ['hundred.bin', 'bytes=abc', 200, undefined, [0, 100]],
      ['hundred.bin', 'items=0-5', 200, undefined, [0, 100]],
      ['empty.bin', 'bytes=0-0', 416, 'bytes */0', undefined],
      ['empty.bin', 'bytes=0-', 416, 'bytes */0', undefined],
      ['empty.bin', 'bytes=-0', 416, 'bytes */0', undefined],
      ['empty.bin', 'bytes=-5', 200, undefined, [0, 0]],
    ] as const)('%s with %s answers %d (Content-Range %s)', async (name, range, status, contentRange, slice) => {
      const whole = name === 'hundred.bin' ? hundred : Buffer.alloc(0);
      for (const [mode, client] of [
        ['stream', c],
        ['redirect', rc],
      ] as const) {
        const got = await fetchRange(client, name, range);
        expect({ mode, status: got.status, contentRange: got.contentRange }).toEqual({ mode, status, contentRange });
        if (slice) expect(Buffer.compare(got.body, whole.subarray(slice[0], slice[1]))).toBe(0);
        else if (got.json) expect(got.json).toMatchObject({ error: 'unsatisfiable', status: 416, field: 'Range' });
      }
    });

    it('ignores Range on HEAD', async () => {
      const head = await request(gw.runtime.app)
        .head(`/v2/gateway_file/${idOf('hundred.bin')}`)
        .set('Authorization', `Bearer ${c.token}`)
        .set('Range', 'bytes=0-0')
        .expect(200);
      expect(head.headers['content-length']).toBe('100');
      expect(head.headers['content-range']).toBeUndefined();
    });
  });

  describe('resumed with If-Range (RFC 9110)', () => {
    let fileId: string;
    let v1: Buffer;
    let v2: Buffer;
    beforeEach(async () => {
      v1 = randomBytes(50_000);
      v2 = randomBytes(60_000);
      fileId = (await uploadNew(c.rootId, `resume-${randomBytes(3).toString('hex')}.bin`, v1).expect(200)).body['gateway.metadata.id'];
    });
    const replace = () =>
      c
        .put(`/v2/gateway_metadata_file/${fileId}`)
        .set('X-Gateway-Upload', uploadHeader({ 'gateway.metadata.file.size': v2.length }))
        .send(v2)
        .expect(200);
    const resume = (validator: string, range = 'bytes=20000-') =>
      c.get(`/v2/gateway_file/${fileId}`).set('Range', range).set('If-Range', validator).buffer(true).parse(binary);

    it('sends the rest (206) while the file is the version the client names', async () => {
      const res = await resume(`"${sha256(v1)}"`).expect(206);
      expect(res.headers['content-range']).toBe('bytes 20000-49999/50000');
      expect(Buffer.compare(res.body as Buffer, v1.subarray(20000))).toBe(0);
    });

    it('sends the whole new file (200) once it was replaced, never half of each', async () => {
      const started = await c.get(`/v2/gateway_file/${fileId}`).buffer(true).parse(binary).expect(200);
      const etag = started.headers.etag!;
      await replace();
      const res = await resume(etag).expect(200);
      expect(res.headers['content-range']).toBeUndefined();
      expect(res.headers.etag).toBe(`"${sha256(v2)}"`);
      expect(sha256(res.body as Buffer)).toBe(sha256(v2));
      // also when the range would not even fit the old version
      expect(sha256((await resume(etag, 'bytes=55000-').expect(200)).body as Buffer)).toBe(sha256(v2));
    });

    it('accepts the Last-Modified date as validator, exactly, and never a weak tag', async () => {
      const lastModified = (await c.get(`/v2/gateway_file/${fileId}`).buffer(true).expect(200)).headers['last-modified']!;
      await resume(lastModified).expect(206);
      await resume(new Date(Date.parse(lastModified) - 3_600_000).toUTCString()).expect(200);
      await resume(`W/"${sha256(v1)}"`).expect(200);
    });

    it('sends a changed file whole from the gateway in redirect mode, and redirects otherwise', async () => {
      const redirecting = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { ...sameS3(gw), DOWNLOAD_MODE: 'redirect' } });
      try {
        const rc = await signIn(redirecting.runtime.app, 'tester');
        const get = (validator: string) =>
          rc.get(`/v2/gateway_file/${fileId}`).set('Range', 'bytes=100-').set('If-Range', validator).buffer(true).parse(binary);
        await get(`"${sha256(v1)}"`).expect(302);
        await replace();
        const whole = await get(`"${sha256(v1)}"`).expect(200);
        expect(sha256(whole.body as Buffer)).toBe(sha256(v2));
      } finally {
        await redirecting.close();
      }
    });
  });

  it('refuse folders with 400 and missing files with 404', async () => {
    await c.get(`/v2/gateway_file/${idOf('up/')}`).expect(400);
    await c.get(`/v2/gateway_file/${idOf('nothing.bin')}`).expect(404);
  });

  it('redirect to a presigned URL that serves the file, in redirect mode', async () => {
    const redirecting = await startTestGateway({
      store: 'memory',
      users: [{ name: 'tester', root }],
      env: { ...sameS3(gw), DOWNLOAD_MODE: 'redirect' },
    });
    try {
      const rc = await signIn(redirecting.runtime.app, 'tester');
      const res = await rc.get(`/v2/gateway_file/${id}`).expect(302);
      const direct = await fetch(res.headers.location!);
      expect(direct.status).toBe(200);
      expect(sha256(Buffer.from(await direct.arrayBuffer()))).toBe(sha256(body));
    } finally {
      await redirecting.close();
    }
  });
});

describe('segmented uploads', () => {
  const plan = (buf: Buffer) => {
    const segs: Array<{ n: number; data: Buffer }> = [];
    for (let off = 0, n = 1; off < buf.length; off += SEGMENT, n++) segs.push({ n, data: buf.subarray(off, off + SEGMENT) });
    return segs;
  };
  const segmentJson = (s: { n: number; data: Buffer }) => ({
    'gateway.upload.segment.number': s.n,
    'gateway.upload.segment.size': s.data.length,
    'gateway.upload.segment.sha256': sha256(s.data),
  });
  const sendSegment = (uploadId: string, cookie: string, s: { n: number; data: Buffer }, data = s.data) =>
    c
      .post(`/v2/gateway_upload_segment/${uploadId}`)
      .set('X-Gateway-Upload-Segment', JSON.stringify({ ...segmentJson(s), 'gateway.upload.cookie': cookie }))
      .send(data);

  it('take segments in any order, retried, refusing a wrong one, and finish into the file', async () => {
    const body = randomBytes(3 * SEGMENT + 12345);
    const segs = plan(body);
    const started = await c
      .post('/v2/gateway_upload', {
        'gateway.metadata.parent.id': idOf('up/'),
        'gateway.metadata.name': 'segmented.bin',
        'gateway.metadata.file.size': body.length,
        'gateway.metadata.modified': 1_650_000_000_000,
        'gateway.upload.segment': segs.map(segmentJson),
      })
      .expect(200);
    const uploadId = started.body['gateway.upload.id'];
    const cookie = started.body['gateway.upload.cookie'];
    expect(started.body['gateway.upload.expiration']).toBeGreaterThan(Date.now());
    expect(started.body['gateway.upload.segment']).toHaveLength(4);
    expect(started.body['gateway.upload.segment'][0]['gateway.upload.segment.cookie']).toEqual(expect.any(String));

    const corrupted = Buffer.from(segs[2]!.data);
    corrupted[100] = corrupted[100]! ^ 0xff;
    const wrong = await sendSegment(uploadId, cookie, segs[2]!, corrupted).expect(400);
    expect(wrong.body.field).toBe('gateway.upload.segment.sha256');
    // finishing now fails: segment 3 was refused, so it is missing
    const returned: unknown[] = [];
    for (const s of [segs[3]!, segs[0]!, segs[2]!, segs[1]!, segs[1]!]) {
      const r = await sendSegment(uploadId, cookie, s).expect(200);
      returned[s.n - 1] = r.body;
    }
    await c.get(`/v2/gateway_metadata/${idOf('up/segmented.bin')}`).expect(404); // nothing visible before finishing
    const finished = await c
      .post(`/v2/gateway_metadata_upload/${idOf('up/')}`, {
        'gateway.metadata.name': 'segmented.bin',
        'gateway.metadata.modified': 1_650_000_000_000,
        'gateway.metadata.file.size': body.length,
        'gateway.upload.id': uploadId,
        'gateway.upload.segment': returned,
        'gateway.upload.cookie': cookie,
      })
      .expect(200);
    expect(finished.body).toMatchObject({
      'gateway.metadata.name': 'segmented.bin',
      'gateway.metadata.file.size': body.length,
      'gateway.metadata.modified': 1_650_000_000_000,
    });
    expect(sha256(await download(idOf('up/segmented.bin')))).toBe(sha256(body));
    // the upload is over: its id is unknown now
    await c.del(`/v2/gateway_upload/${uploadId}`).expect(404);
  });

  it('refuse to finish while a segment is missing, and cancel cleanly', async () => {
    const body = randomBytes(SEGMENT + 10);
    const segs = plan(body);
    const started = await c
      .post('/v2/gateway_upload', {
        'gateway.metadata.parent.id': idOf('up/'),
        'gateway.metadata.name': 'cancelled.bin',
        'gateway.metadata.file.size': body.length,
        'gateway.upload.segment': segs.map(segmentJson),
      })
      .expect(200);
    const { 'gateway.upload.id': uploadId, 'gateway.upload.cookie': cookie } = started.body;
    await sendSegment(uploadId, cookie, segs[0]!).expect(200);
    const early = await c
      .post(`/v2/gateway_metadata_upload/${idOf('up/')}`, {
        'gateway.metadata.name': 'cancelled.bin',
        'gateway.metadata.file.size': body.length,
        'gateway.upload.id': uploadId,
        'gateway.upload.cookie': cookie,
      })
      .expect(400);
    expect(early.body.message).toMatch(/segment\(s\) 2 have not been uploaded/);
    await sendSegment(uploadId, 'not-the-cookie', segs[1]!).expect(403);
    await c.del(`/v2/gateway_upload/${uploadId}`).expect(200);
    await sendSegment(uploadId, cookie, segs[1]!).expect(404);
    expect(await keys('up/')).not.toContain('up/cancelled.bin');
  });

  it('refuse a plan whose non-final segments are not the segment size, up front', async () => {
    const res = await c
      .post('/v2/gateway_upload', {
        'gateway.metadata.parent.id': idOf('up/'),
        'gateway.metadata.name': 'uneven.bin',
        'gateway.metadata.file.size': 2 * SEGMENT,
        'gateway.upload.segment': [
          { 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': SEGMENT - 1, 'gateway.upload.segment.sha256': 'a'.repeat(64) },
          { 'gateway.upload.segment.number': 2, 'gateway.upload.segment.size': SEGMENT + 1, 'gateway.upload.segment.sha256': 'a'.repeat(64) },
        ],
      })
      .expect(400);
    expect(res.body.field).toBe('gateway.upload.segment[0].gateway.upload.segment.size');
    expect(res.body.message).toMatch(new RegExp(`must be ${SEGMENT} \\(the segment size announced at sign-in\\)`));
  });

  it('accept a plan of as many segments as S3 allows, and refuse one more, up front', async () => {
    const planOf = (count: number) => ({
      'gateway.metadata.parent.id': idOf('up/'),
      'gateway.metadata.name': `parts-${count}.bin`,
      'gateway.metadata.file.size': count * SEGMENT,
      'gateway.upload.segment': Array.from({ length: count }, (_, i) => ({
        'gateway.upload.segment.number': i + 1,
        'gateway.upload.segment.size': SEGMENT,
        'gateway.upload.segment.sha256': 'a'.repeat(64),
      })),
    });
    // 10,000 segments make a plan of about 1.2 MB: more than other JSON bodies may be, well within the plan's own limit.
    const started = await c.post('/v2/gateway_upload', planOf(10_000)).expect(200);
    expect(started.body['gateway.upload.segment']).toHaveLength(10_000);
    await c.del(`/v2/gateway_upload/${started.body['gateway.upload.id']}`).expect(200);
    const refused = await c.post('/v2/gateway_upload', planOf(10_001)).expect(400);
    expect(refused.body).toMatchObject({ field: 'gateway.upload.segment', message: expect.stringMatching(/has 10001 segments; this S3 allows 10000/) });
    expect((await keys('up/')).filter((k) => k.startsWith('up/parts-'))).toEqual([]);
    const open = await bucket().client.send(new ListMultipartUploadsCommand({ Bucket: bucket().name, Prefix: `${root}up/parts-` }));
    expect(open.Uploads ?? []).toEqual([]);
  });

  it('update an existing file', async () => {
    const first = await uploadNew(idOf('up/'), 'seg-update.bin', Buffer.from('old')).expect(200);
    const body = randomBytes(SEGMENT + 1);
    const segs = plan(body);
    const started = await c
      .post('/v2/gateway_upload', {
        'gateway.metadata.id': first.body['gateway.metadata.id'],
        'gateway.metadata.file.size': body.length,
        'gateway.upload.segment': segs.map(segmentJson),
      })
      .expect(200);
    const { 'gateway.upload.id': uploadId, 'gateway.upload.cookie': cookie } = started.body;
    for (const s of segs) await sendSegment(uploadId, cookie, s).expect(200);
    await c
      .put(`/v2/gateway_metadata_upload/${first.body['gateway.metadata.id']}`, {
        'gateway.metadata.file.size': body.length,
        'gateway.upload.id': uploadId,
        'gateway.upload.cookie': cookie,
      })
      .expect(200);
    expect(sha256(await download(first.body['gateway.metadata.id']))).toBe(sha256(body));
  });
});

describe('thumbnails', () => {
  it('resize PNG and JPEG images to the configured longest side', async () => {
    const png = await sharp({ create: { width: 800, height: 400, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const jpeg = await sharp({ create: { width: 300, height: 600, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .jpeg()
      .toBuffer();
    for (const [name, data, type, w, h] of [
      ['pic.png', png, 'image/png', 256, 128],
      ['photo.jpg', jpeg, 'image/jpeg', 128, 256],
    ] as const) {
      const id = (await uploadNew(c.rootId, name, data).expect(200)).body['gateway.metadata.id'];
      const res = await c.get(`/v2/gateway_file_thumbnail/${id}`).buffer(true).parse(binary).expect(200);
      expect(res.headers['content-type']).toBe(type);
      const meta = await sharp(res.body as Buffer).metadata();
      expect([meta.width, meta.height]).toEqual([w, h]);
      // the second time comes from the cache, identical
      const again = await c.get(`/v2/gateway_file_thumbnail/${id}`).buffer(true).parse(binary).expect(200);
      expect(Buffer.compare(again.body as Buffer, res.body as Buffer)).toBe(0);
    }
  });

  it('are "not available" (403) for anything that is not an image', async () => {
    const id = (await uploadNew(c.rootId, 'notes.txt', Buffer.from('plain text')).expect(200)).body['gateway.metadata.id'];
    const res = await c.get(`/v2/gateway_file_thumbnail/${id}`).expect(403);
    expect(res.body.message).toMatch(/not available/);
    const fake = (await uploadNew(c.rootId, 'fake.png', Buffer.from('not really a png')).expect(200)).body['gateway.metadata.id'];
    await c.get(`/v2/gateway_file_thumbnail/${fake}`).expect(403);
  });
});

async function listen(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createHttpServer(gw.runtime.app, { maxHeaderBytes: 16384 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
