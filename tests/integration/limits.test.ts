import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect as connect_, type AddressInfo } from 'node:net';
import request from 'supertest';
import { idOf, keysUnder, openUpload, signIn, uniqueRoot } from '../support/api.js';
import { DEMO_PASSWORD, startTestGateway, type TestGateway } from '../support/gateway.js';
import { externalS3, runGateway, waitFor } from '../support/processes.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

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
      request(app)
        .options('/v2/gateway_metadata_children/root')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'GET')
        .set('Access-Control-Request-Headers', 'authorization');
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
      expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(refused.body).toEqual({
        error: 'rate_limited',
        status: 429,
        message: expect.stringMatching(/access token/),
        requestId: refused.headers['x-request-id'],
      });
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
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(refused.body).toEqual({
        error: 'rate_limited',
        status: 429,
        message: expect.stringMatching(/address/),
        requestId: refused.headers['x-request-id'],
      });
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

describe('an upload refused before its body is read', () => {
  /** A raw connection, to see exactly when the gateway answers and whether it closes. */
  function connect(port: number) {
    const socket = connect_(port, '127.0.0.1');
    let received = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    return {
      socket,
      received: () => received,
      closed: () => closed, // (an answer begins right after the previous one's body, not on a line of its own)
      answers: () => received.match(/HTTP\/1\.1 \d{3}/g) ?? [],
    };
  }
  const put = (token: string, id: string, size: number) =>
    [
      `PUT /v2/gateway_metadata_file/${id} HTTP/1.1`,
      'Host: 127.0.0.1',
      `Authorization: Bearer ${token}`,
      `Content-Length: ${size}`,
      `X-Gateway-Upload: ${JSON.stringify({ 'gateway.metadata.file.size': size })}`,
      '',
      '',
    ].join('\r\n');

  it('is answered to a client still sending it, and its connection lives on (a closed socket would reset the answer away)', async () => {
    const root = uniqueRoot('refused');
    const gw = await startTestGateway({ store: 'memory', users: [{ name: 'refused', root }] });
    const server = http.createServer(gw.runtime.app).listen(0, '127.0.0.1');
    try {
      await new Promise((r) => server.once('listening', r));
      const c = await signIn(gw.runtime.app, 'refused');
      const { port } = server.address() as AddressInfo;
      const size = 32 * 1024 * 1024; // over one part: the missing file is refused before the body is read
      const conn = connect(port);
      conn.socket.write(put(c.token, idOf('missing.bin'), size));
      conn.socket.write(Buffer.alloc(64 * 1024, 1));
      await waitFor(() => conn.answers().length === 1, 'the answer to the refused upload');
      expect(conn.received()).toMatch(/^HTTP\/1\.1 404 /);
      expect(conn.received()).not.toMatch(/^connection: close/im);
      // the rest of the body, then a second request on the same connection
      for (let sent = 64 * 1024; sent < size; sent += 1024 * 1024) {
        if (!conn.socket.write(Buffer.alloc(Math.min(1024 * 1024, size - sent), 1))) await new Promise((r) => conn.socket.once('drain', r));
      }
      conn.socket.write(`GET /v2/gateway_metadata/${c.rootId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${c.token}\r\n\r\n`);
      await waitFor(() => conn.answers().length === 2 || conn.closed(), 'the second answer or the connection closed');
      expect({ answers: conn.answers(), closed: conn.closed() }).toEqual({ answers: ['HTTP/1.1 404', 'HTTP/1.1 200'], closed: false });
      conn.socket.destroy();
      expect(await keysUnder(gw.bucket, root)).toEqual([]);

      // a body too large to be worth reading: answered, and the connection is closed instead
      const huge = connect(port);
      huge.socket.write(put(c.token, idOf('missing.bin'), 1024 * 1024 * 1024));
      huge.socket.write(Buffer.alloc(64 * 1024, 1));
      await waitFor(() => huge.answers().length === 1, 'the answer to the refused large upload');
      expect(huge.received()).toMatch(/^HTTP\/1\.1 404 /);
      expect(huge.received()).toMatch(/^connection: close/im);
      huge.socket.destroy();
    } finally {
      server.closeAllConnections();
      server.close();
      await gw.close();
    }
  });
});

describeWithRedis('request limits across gateway instances', () => {
  it('are counted in the session store: a token and an address reach their limits across two processes', async () => {
    const s3 = await externalS3('limits');
    const env = {
      ...s3.env,
      REDIS_URL: testRedisUrl!,
      REDIS_KEY_PREFIX: uniquePrefix('limits'),
      DEMO_PASSWORD,
      DATA_DIR: '/nonexistent-unused',
      RATE_LIMIT_PER_TOKEN: '6',
      RATE_LIMIT_PER_ADDRESS: '14',
      RATE_LIMIT_WINDOW: '300',
    };
    const gateways = [runGateway(env), runGateway(env)];
    try {
      const [a, b] = (await Promise.all(gateways.map((g) => g.url()))) as [string, string];
      const signIn = await fetch(`${a}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: DEMO_PASSWORD }) });
      const token = ((await signIn.json()) as Record<string, string>)['gateway.auth.access.token']!;
      const entry = (base: string, t = token) => fetch(`${base}/v2/gateway_metadata/root`, { headers: { Authorization: `Bearer ${t}` } });
      // six for the token, three on each instance: neither instance alone has seen more than three
      for (const base of [a, b, a, b, a, b]) expect((await entry(base)).status).toBe(200);
      const refused = await entry(b);
      expect(refused.status).toBe(429);
      expect((await refused.json()) as object).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/access token/) });
      expect((await entry(a)).status).toBe(429);
      // the address (every request so far: 1 sign-in + 8) reaches 14 across both as well
      const other = await fetch(`${b}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: DEMO_PASSWORD }) });
      const second = ((await other.json()) as Record<string, string>)['gateway.auth.access.token']!;
      const statuses: number[] = [];
      for (const base of [a, b, a, b, a, b]) statuses.push((await entry(base, second)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await Promise.all(gateways.map((g) => g.stop()));
      await s3.stop();
    }
  });
});

describe('a transfer that keeps moving', () => {
  // Both idle timeouts at one second; each transfer takes several, moving a little every 20 ms.
  const MiB = 1024 * 1024;
  let gw: TestGateway;
  let server: http.Server;
  let base: string;
  let c: Awaited<ReturnType<typeof signIn>>;
  const root = uniqueRoot('steady');
  const body = randomBytes(6 * MiB);
  beforeAll(async () => {
    gw = await startTestGateway({
      store: 'memory',
      users: [{ name: 'steady', root }],
      env: { BODY_IDLE_TIMEOUT_MS: '1000', S3_REQUEST_TIMEOUT_MS: '1000', UPLOAD_PART_SIZE: String(5 * MiB) },
    });
    server = http.createServer(gw.runtime.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    c = await signIn(gw.runtime.app, 'steady');
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await gw.close();
  });

  it('is never cut off while it keeps sending, however long it takes: an upload over BODY_IDLE_TIMEOUT_MS and S3_REQUEST_TIMEOUT_MS', async () => {
    const started = Date.now();
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = openUpload(base, c.token, c.rootId, 'steady.bin', body.length);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      // 48 KiB every 20 ms: about 2.4 MiB/s, so 6 MiB takes some 2.5 s
      let sent = 0;
      const tick = setInterval(() => {
        const chunk = body.subarray(sent, sent + 48 * 1024);
        sent += chunk.length;
        if (sent >= body.length) {
          clearInterval(tick);
          req.end(chunk);
        } else {
          req.write(chunk);
        }
      }, 20);
    });
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({
      'gateway.metadata.file.size': body.length,
      'gateway.metadata.file.hash': createHash('sha256').update(body).digest('hex'),
    });
  });

  it('is never cut off while it keeps reading: a download over both timeouts, read slowly, arrives byte-identical', async () => {
    const started = Date.now();
    const got = await new Promise<Buffer>((resolve, reject) => {
      http
        .get(`${base}/v2/gateway_file/${idOf('steady.bin')}`, { headers: { Authorization: `Bearer ${c.token}` } }, (res) => {
          expect(res.statusCode).toBe(200);
          const chunks: Buffer[] = [];
          // read at about 2 MiB/s: pause after each chunk, so S3's side waits on backpressure
          res.on('data', (d: Buffer) => {
            chunks.push(d);
            res.pause();
            setTimeout(() => res.resume(), Math.ceil(d.length / (2 * 1024)));
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect(got.length).toBe(body.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });
});
