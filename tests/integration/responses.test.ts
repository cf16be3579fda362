import { parse as parseDisposition } from 'content-disposition';
import sharp from 'sharp';
import request from 'supertest';
import express from 'express';
import helmet from 'helmet';
import { binary, signIn, uniqueRoot, type Client } from '../support/api.js';
import { sameS3, startTestGateway, type TestGateway } from '../support/gateway.js';

/**
 * What every answer tells a browser and the caches between: nothing of the API may run, be framed or be
 * kept by a shared cache, and a downloaded file is saved under its name rather than rendered in the
 * gateway's origin (a file named `x.html` holding a script must not run there).
 */
let gw: TestGateway;
let redirecting: TestGateway;
let c: Client;
let rc: Client;

// Quotes, a semicolon, a percent, non-Latin and astral characters: what a header parameter would break on.
const hostileName = 'résumé "final"; 100% 日本 😀 x.html';
const page = Buffer.from('<script>alert(document.cookie)</script>');

beforeAll(async () => {
  const root = uniqueRoot('responses');
  gw = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }] });
  redirecting = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { ...sameS3(gw), DOWNLOAD_MODE: 'redirect' } });
  c = await signIn(gw.runtime.app, 'tester');
  rc = await signIn(redirecting.runtime.app, 'tester');
});
afterAll(async () => {
  await gw.close();
  await redirecting.close();
});

function upload(name: string, body: Buffer) {
  return c
    .post(`/v2/gateway_metadata_file/${c.rootId}`)
    .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': encodeURIComponent(name), 'gateway.metadata.file.size': body.length }))
    .send(body)
    .expect(200)
    .then((res) => res.body['gateway.metadata.id'] as string);
}

/** The file name a browser would save under: RFC 6266's `filename*` when present. */
const savedAs = (header: string | undefined) => {
  const parsed = parseDisposition(header ?? '');
  return { type: parsed.type, name: parsed.parameters.filename };
};

describe('the Content-Security-Policy', () => {
  it('allows nothing at all, with none of helmet defaults merged in', async () => {
    for (const res of [
      await request(gw.runtime.app).get('/healthz'),
      await request(gw.runtime.app).get('/v2/nothing_here'),
      await c.get(`/v2/gateway_metadata/${c.rootId}`),
    ]) {
      expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none';sandbox");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });
  it('comes with every other header helmet sets for that policy, with helmet’s values, on every answer', async () => {
    // What helmet itself answers with, on an app of nothing else.
    const bare = express();
    bare.disable('x-powered-by');
    bare.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], sandbox: [] } } }));
    bare.get('/', (_req, res) => void res.end());
    const own = (await request(bare).get('/').expect(200)).headers;
    const helmetHeaders = Object.entries(own).filter(([name]) => !['date', 'connection', 'content-length', 'keep-alive'].includes(name));
    expect(helmetHeaders.length).toBeGreaterThan(8);
    for (const res of [
      await request(gw.runtime.app).get('/healthz'),
      await request(gw.runtime.app).get('/v2/nothing_here'),
      await c.get(`/v2/gateway_metadata/${c.rootId}`),
      await c.get(`/v2/gateway_metadata_children/${c.rootId}`),
    ]) {
      for (const [name, value] of helmetHeaders) expect([name, res.headers[name]]).toEqual([name, value]);
    }
  });
});

describe('Cache-Control', () => {
  it('is no-store on answers that carry tokens, metadata or errors', async () => {
    const signInAnswer = await request(gw.runtime.app).post('/v2/gateway_auth').send({ user: 'tester', password: 'test-account-password' }).expect(200);
    const answers = [
      signInAnswer,
      await c.get(`/v2/gateway_metadata/${c.rootId}`).expect(200),
      await c.get(`/v2/gateway_metadata_children/${c.rootId}`).expect(200),
      await request(gw.runtime.app).post('/v2/gateway_auth').send({ user: 'tester', password: 'wrong' }).expect(403),
    ];
    for (const res of answers) expect(res.headers['cache-control']).toBe('no-store');
  });

  it('is private on downloads, their HEAD and 304, and thumbnails', async () => {
    const id = await upload('cache.txt', Buffer.from('cached privately'));
    const got = await c.get(`/v2/gateway_file/${id}`).expect(200);
    expect(got.headers['cache-control']).toBe('private');
    expect((await request(gw.runtime.app).head(`/v2/gateway_file/${id}`).set('Authorization', `Bearer ${c.token}`).expect(200)).headers['cache-control']).toBe(
      'private',
    );
    expect((await c.get(`/v2/gateway_file/${id}`).set('If-None-Match', got.headers.etag!).expect(304)).headers['cache-control']).toBe('private');
    const png = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .png()
      .toBuffer();
    const pic = await upload('pic.png', png);
    expect((await c.get(`/v2/gateway_file_thumbnail/${pic}`).expect(200)).headers['cache-control']).toBe('private');
  });
});

describe('downloads', () => {
  it('are attachments under their own name, any name, so a browser saves rather than renders them', async () => {
    const id = await upload(hostileName, page);
    const got = await c.get(`/v2/gateway_file/${id}`).buffer(true).parse(binary).expect(200);
    expect(savedAs(got.headers['content-disposition'])).toEqual({ type: 'attachment', name: hostileName });
    expect(got.headers['content-disposition']).toContain("filename*=UTF-8''");
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.compare(got.body as Buffer, page)).toBe(0);
    const head = await request(gw.runtime.app).head(`/v2/gateway_file/${id}`).set('Authorization', `Bearer ${c.token}`).expect(200);
    expect(savedAs(head.headers['content-disposition'])).toEqual({ type: 'attachment', name: hostileName });
    const ranged = await c.get(`/v2/gateway_file/${id}`).set('Range', 'bytes=0-7').expect(206);
    expect(savedAs(ranged.headers['content-disposition'])).toEqual({ type: 'attachment', name: hostileName });
  });

  it('in redirect mode, are attachments under their name too: the presigned URL makes S3 say so', async () => {
    const id = await upload(`redirect ${hostileName}`, page);
    const res = await rc.get(`/v2/gateway_file/${id}`).expect(302);
    const followed = await fetch(res.headers.location!);
    expect(followed.status).toBe(200);
    expect(savedAs(followed.headers.get('content-disposition') ?? undefined)).toEqual({ type: 'attachment', name: `redirect ${hostileName}` });
    expect(Buffer.from(await followed.arrayBuffer()).equals(page)).toBe(true);
  });
});
