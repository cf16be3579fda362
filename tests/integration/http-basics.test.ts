import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import request from 'supertest';
import { createHttpServer } from '../../src/http/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ store: 'memory', env: { MAX_JSON_BODY_BYTES: '2048', MAX_HEADER_BYTES: '4096' } });
});
afterAll(() => gw.close());

describe('every response', () => {
  it('carries a request id, and reuses a sane one from a proxy', async () => {
    const a = await request(gw.runtime.app).get('/healthz').expect(200);
    expect(a.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const b = await request(gw.runtime.app).get('/healthz').set('X-Request-Id', 'lb-1234').expect(200);
    expect(b.headers['x-request-id']).toBe('lb-1234');
    const c = await request(gw.runtime.app).get('/healthz').set('X-Request-Id', 'bad id with spaces').expect(200);
    expect(c.headers['x-request-id']).not.toBe('bad id with spaces');
  });

  it('uses the one JSON error shape for unknown endpoints', async () => {
    const res = await request(gw.runtime.app).get('/v2/nothing_here/abc').expect(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: 'not_found', status: 404, message: expect.any(String), requestId: res.headers['x-request-id'] });
  });

  it('caps JSON bodies with 413', async () => {
    const res = await request(gw.runtime.app)
      .post('/v2/gateway_auth')
      .send({ user: 'demo', password: 'x'.repeat(4000) })
      .expect(413);
    expect(res.body).toMatchObject({ error: 'too_large', field: 'body' });
  });

  it('logs one JSON line per request with id, method, route, status, duration and bytes', async () => {
    const res = await request(gw.runtime.app).get('/v2/gateway_auth_method').expect(200);
    const line = gw.logLines.map((l) => JSON.parse(l)).find((l) => l.requestId === res.headers['x-request-id']);
    expect(line).toMatchObject({
      message: 'request',
      method: 'GET',
      route: '/v2/gateway_auth_method',
      status: 200,
      durationMs: expect.any(Number),
      bytesIn: expect.any(Number),
      bytesOut: expect.any(Number),
    });
    expect(line.bytesOut).toBeGreaterThan(Number(res.headers['content-length']));
  });
});

describe('the HTTP server', () => {
  it('answers oversized headers with a JSON 431', async () => {
    const server = createHttpServer(gw.runtime.app, { maxHeaderBytes: 4096 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const raw = await new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1');
        let out = '';
        sock.on('data', (d) => (out += d.toString()));
        sock.on('end', () => resolve(out));
        sock.on('error', reject);
        sock.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 431 /);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'too_large', field: 'headers' });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
