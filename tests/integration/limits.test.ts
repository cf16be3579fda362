import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { idOf, keysUnder, openUpload, signIn, uniqueRoot } from '../support/api.js';
import { DEMO_PASSWORD, startTestGateway, type TestGateway } from '../support/gateway.js';

describe('security headers and CORS', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ store: 'memory' });
  });
  afterAll(() => gw.close());

  it.each([
    ['a health check', '/healthz', 200],
    ['the sign-in form', '/v2/gateway_auth_method', 200],
    ['an error', '/v2/gateway_metadata/x', 401],
    ['an unknown route', '/nowhere', 404],
  ])('are on every answer: %s', async (_what, path, status) => {
    const res = await request(gw.runtime.app).get(path).expect(status);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('CORS is off unless configured, and then allows only the listed origins', async () => {
    const preflight = (app: TestGateway['runtime']['app'], origin: string) =>
      request(app).options('/v2/gateway_metadata_children/root').set('Origin', origin).set('Access-Control-Request-Method', 'GET').set('Access-Control-Request-Headers', 'authorization');
    expect((await preflight(gw.runtime.app, 'https://app.example.com')).headers['access-control-allow-origin']).toBeUndefined();
    const withCors = await startTestGateway({ store: 'memory', env: { CORS_ORIGINS: 'https://app.example.com' } });
    try {
      const allowed = await preflight(withCors.runtime.app, 'https://app.example.com').expect(204);
      expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(allowed.headers['access-control-allow-headers']).toMatch(/Authorization/);
      const other = await preflight(withCors.runtime.app, 'https://evil.example.net');
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await withCors.close();
    }
  });
});

describe('request limits', () => {
  it('answer 429 with Retry-After beyond the requests allowed per access token', async () => {
    const gw = await startTestGateway({ store: 'memory', env: { RATE_LIMIT_PER_TOKEN: '3', RATE_LIMIT_WINDOW: '60' } });
    try {
      const a = await signIn(gw.runtime.app, 'demo', DEMO_PASSWORD);
      const b = await signIn(gw.runtime.app, 'demo', DEMO_PASSWORD);
      for (let i = 0; i < 3; i++) await a.get(`/v2/gateway_metadata/${a.rootId}`).expect(200);
      const refused = await a.get(`/v2/gateway_metadata/${a.rootId}`).expect(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.body.message).toMatch(/access token/);
      await b.get(`/v2/gateway_metadata/${b.rootId}`).expect(200); // another token has its own count
    } finally {
      await gw.close();
    }
  });

  it('answer 429 beyond the requests allowed per client address, signed in or not', async () => {
    const gw = await startTestGateway({ store: 'memory', env: { RATE_LIMIT_PER_ADDRESS: '4', RATE_LIMIT_WINDOW: '60' } });
    try {
      for (let i = 0; i < 4; i++) await request(gw.runtime.app).get('/v2/gateway_auth_method').expect(200);
      const refused = await request(gw.runtime.app).get('/v2/gateway_auth_method').expect(429);
      expect(refused.headers['retry-after']).toBeDefined();
      await request(gw.runtime.app).get('/healthz').expect(200); // health checks are never limited
    } finally {
      await gw.close();
    }
  });
});

describe('a body that stops arriving', () => {
  it('is cut off after BODY_IDLE_TIMEOUT_MS, and its upload commits nothing', async () => {
    const root = uniqueRoot('idle');
    const gw = await startTestGateway({ store: 'memory', env: { BODY_IDLE_TIMEOUT_MS: '1000' }, users: [{ name: 'idler', root }] });
    const server = http.createServer(gw.runtime.app).listen(0, '127.0.0.1');
    try {
      await new Promise((r) => server.once('listening', r));
      const c = await signIn(gw.runtime.app, 'idler');
      const { port } = server.address() as AddressInfo;
      const started = Date.now();
      const closed = await new Promise<number>((resolve) => {
        const req = openUpload(`http://127.0.0.1:${port}`, c.token, c.rootId, 'stalled.bin', 64 * 1024);
        req.on('error', () => resolve(Date.now() - started));
        req.on('response', (res) => res.resume().on('end', () => resolve(Date.now() - started)));
        req.write(Buffer.alloc(10 * 1024, 1)); // then nothing more
      });
      expect(closed).toBeGreaterThanOrEqual(900);
      expect(closed).toBeLessThan(10_000);
      await c.get(`/v2/gateway_metadata/${idOf('stalled.bin')}`).expect(404);
      expect(await keysUnder(gw.bucket, root)).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
      await gw.close();
    }
  });
});
