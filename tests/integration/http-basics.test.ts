import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import request from 'supertest';
import { createHttpServer } from '../../src/http/server.js';
import { listAll, signIn, type Client } from '../support/api.js';
import { DEMO_PASSWORD, startTestGateway, type TestGateway } from '../support/gateway.js';

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

describe('bytes that are not UTF-8', () => {
  let c: Client;
  beforeAll(async () => {
    c = await signIn(gw.runtime.app, 'demo', DEMO_PASSWORD);
  });
  const stem = () => `utf8-${randomBytes(4).toString('hex')}`;
  const namesAtRoot = async () => (await listAll(c, c.rootId)).entries.map((e) => e['gateway.metadata.name'] as string);

  it('in a JSON body answer 400 naming the body, and create nothing (no name the client never sent)', async () => {
    const name = stem();
    const body = Buffer.concat([Buffer.from(`{"gateway.metadata.name":"${name}`), Buffer.from([0xff, 0xc3]), Buffer.from('"}')]);
    // (sent as bytes: superagent would turn a Buffer given with a JSON type into JSON of its own)
    const res = await c.post(`/v2/gateway_metadata_folder/${c.rootId}`).send(body).expect(400);
    expect(res.body).toMatchObject({ error: 'invalid', status: 400, field: 'body', message: expect.stringMatching(/not valid UTF-8/) });
    expect((await namesAtRoot()).filter((n) => n.startsWith(name))).toEqual([]);
  });

  it('in an upload header answer 400 naming the header, and store nothing', async () => {
    const name = stem();
    // Node sends each character of a header value below U+0100 as one byte: \u00ff is the byte 0xFF.
    const header = `{"gateway.metadata.name":"${name}\u00ff","gateway.metadata.file.size":3}`;
    const res = await c.post(`/v2/gateway_metadata_file/${c.rootId}`).set('X-Gateway-Upload', header).send(Buffer.from('abc')).expect(400);
    expect(res.body).toMatchObject({ error: 'invalid', status: 400, field: 'X-Gateway-Upload', message: expect.stringMatching(/not valid UTF-8/) });
    expect((await namesAtRoot()).filter((n) => n.startsWith(name))).toEqual([]);
  });

  it('are not confused with UTF-8 sent as it is in an upload header: the name is the one sent', async () => {
    const name = `${stem()}-café-日本`;
    const header = Buffer.from(JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': 3 }), 'utf8').toString('latin1');
    const res = await c.post(`/v2/gateway_metadata_file/${c.rootId}`).set('X-Gateway-Upload', header).send(Buffer.from('abc')).expect(200);
    expect(res.body['gateway.metadata.name']).toBe(name);
    expect(await namesAtRoot()).toContain(name);
  });
});
