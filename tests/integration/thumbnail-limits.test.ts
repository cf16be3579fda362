import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { DEMO_PASSWORD } from '../support/gateway.js';
import { externalS3, runGateway, type Running } from '../support/processes.js';

/**
 * One account firing many thumbnail requests for large images at once: the gateway (its own process, so
 * its memory is its own) renders a few at a time, renders one version of one image once, answers 503 with
 * Retry-After beyond its queue, and its peak memory stays under a stated bound.
 */
const MiB = 1024 * 1024;
/**
 * What the attack may add to the gateway's peak RSS: a few renders of a 27 MB image and their pixels, with
 * room (measured: 66 MiB for one image, 163 MiB across 24; without the bounds, 1.3 GiB).
 */
const RSS_BOUND = 400 * MiB;
const SIDE = 3000;

/** The process's peak resident set so far (Linux). */
const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('thumbnails under a flood of requests', () => {
  let s3: Awaited<ReturnType<typeof externalS3>>;
  let gw: Running;
  let base: string;
  let auth: { Authorization: string };
  const prefix = `thumbs-${randomBytes(4).toString('hex')}/`;
  const idOf = (name: string) => Buffer.from(`${prefix}${name}`).toString('base64url');
  const thumbnail = (name: string) => fetch(`${base}/v2/gateway_file_thumbnail/${idOf(name)}`, { headers: auth });

  beforeAll(async () => {
    s3 = await externalS3('thumbnail-limits');
    // Noise does not compress: a 3000 × 3000 PNG of 27 MB that decodes to 27 MB of pixels.
    const big = await sharp(randomBytes(SIDE * SIDE * 3), { raw: { width: SIDE, height: SIDE, channels: 3 } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    const put = (name: string, body: Buffer | string, type: string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${name}`, Body: body, ContentType: type }));
    await put('big.png', big, 'image/png');
    for (let i = 0; i < 24; i++) {
      await s3.client.send(new CopyObjectCommand({ Bucket: s3.bucket, Key: `${prefix}big-${i}.png`, CopySource: `${s3.bucket}/${prefix}big.png` }));
    }
    await put('svg-inside.png', '<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><rect width="9" height="9"/></svg>', 'image/png');
    await put('pdf-inside.jpg', '%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n', 'image/jpeg');
    await put(
      'small.png',
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#369' } })
        .png()
        .toBuffer(),
      'image/png',
    );
    gw = runGateway({ ...s3.env, DEMO_PASSWORD, DATA_DIR: '/nonexistent-unused' });
    base = new URL(await gw.url()).origin;
    const signIn = await fetch(`${base}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: DEMO_PASSWORD }) });
    auth = { Authorization: `Bearer ${((await signIn.json()) as Record<string, string>)['gateway.auth.access.token']}` };
    // sharp loaded and warm: what the attack adds is measured from here
    expect((await thumbnail('small.png')).status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
    const names = ['big.png', ...Array.from({ length: 24 }, (_, i) => `big-${i}.png`), 'svg-inside.png', 'pdf-inside.jpg', 'small.png'];
    for (const name of names) await s3?.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${name}` }));
    await s3?.stop();
  });

  it('64 requests for one large image at once: one render serves them all, memory bounded', async () => {
    const before = peakRss(gw.child.pid!);
    const answers = await Promise.all(Array.from({ length: 64 }, () => thumbnail('big.png')));
    const bodies = await Promise.all(answers.map(async (r) => Buffer.from(await r.arrayBuffer())));
    expect(answers.map((r) => r.status)).toEqual(Array<number>(64).fill(200));
    for (const b of bodies) expect(b.equals(bodies[0]!)).toBe(true);
    expect((await sharp(bodies[0]).metadata()).width).toBe(256);
    expect(peakRss(gw.child.pid!) - before).toBeLessThan(RSS_BOUND);
  }, 120_000);

  it('64 requests across 24 large images at once: each 200 or 503 with Retry-After, memory bounded', async () => {
    const before = peakRss(gw.child.pid!);
    const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => thumbnail(`big-${i % 24}.png`)));
    for (const r of answers) {
      expect([200, 503]).toContain(r.status);
      if (r.status === 503) expect(r.headers.get('retry-after')).toBe('1');
      await r.arrayBuffer();
    }
    expect(answers.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(2);
    expect(peakRss(gw.child.pid!) - before).toBeLessThan(RSS_BOUND);
  }, 120_000);

  it.each(['svg-inside.png', 'pdf-inside.jpg'])(
    'answers "not available" for %s: an image name holding another format never reaches a decoder',
    async (name) => {
      for (let i = 0; i < 2; i++) {
        const res = await thumbnail(name);
        expect(res.status).toBe(403);
        expect(((await res.json()) as Record<string, string>).message).toMatch(/^Thumbnail not available: the file is not an image of a format/);
      }
    },
  );
});
