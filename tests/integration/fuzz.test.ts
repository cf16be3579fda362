import fc from 'fast-check';
import request from 'supertest';
import type http from 'node:http';
import { DIALECTS } from '../../src/http/dialects.js';
import { createHttpServer } from '../../src/http/server.js';
import { idOf, keysUnder, seed, signIn, uniqueRoot } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

/**
 * Random routes, ids, headers, JSON bodies and upload headers at every endpoint of both dialects: the
 * gateway must answer 4xx (or 2xx for what happens to be valid), never 5xx and never hang, and nothing
 * outside the fuzzing account's root may change.
 */
const routes = DIALECTS.flatMap((d) => Object.values(d.routes).map((r) => ({ method: r.method, path: r.path })));

const idLike = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => idOf(s)),
  fc.constantFrom('root', '', '..', '%2e%2e', '%2F', 'Li4v', 'Li4vLi4v', idOf('../outside/secret.txt'), idOf('/etc/passwd'), 'x'.repeat(3000)),
  fc.string({ unit: 'binary', maxLength: 60 }).map((s) => encodeURIComponent(s)),
);
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.constantFrom(
      'gateway.metadata.name',
      'gateway.metadata.modified',
      'gateway.metadata.file.size',
      'gateway.metadata.file.sha256',
      'gateway.metadata.id',
      'gateway.metadata.parent.id',
      'new.gateway.metadata.name',
      'new.gateway.metadata.parent.id',
      'gateway.upload.id',
      'gateway.upload.cookie',
      'gateway.upload.segment',
      'gateway.auth.refresh.token',
      'user',
      'password',
      'content.name',
      'parent.content.id',
      'file.size',
      'file.modified',
      'refresh.token',
    ),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), idLike, fc.integer(), fc.constant(-1), fc.constant(1e308)),
  ),
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '')),
  jsonish.map((j) => JSON.stringify(j) ?? 'null'),
);

describe('hostile input at every endpoint', () => {
  let gw: TestGateway;
  // The gateway's own server, so that what Node refuses before Express (oversized headers) is tested too.
  let server: http.Server;
  const root = uniqueRoot('fuzz');
  const neighbour = `${root.slice(0, -1)}-outside/`;
  beforeAll(async () => {
    gw = await startTestGateway({ store: 'memory', env: { RATE_LIMIT_PER_TOKEN: '0', RATE_LIMIT_PER_ADDRESS: '0' }, users: [{ name: 'fuzzer', root }] });
    await seed(gw.bucket, [`${root}inside.txt`, `${root}folder/a.txt`, `${neighbour}secret.txt`]);
    server = createHttpServer(gw.runtime.app, { maxHeaderBytes: gw.runtime.config.limits.maxHeaderBytes });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await gw.close();
  });

  it('answers 2xx or 4xx, never 5xx or a hang, and changes nothing outside the root', async () => {
    const outsideBefore = await keysUnder(gw.bucket, neighbour);
    const c = await signIn(gw.runtime.app, 'fuzzer');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.option(fc.constantFrom('get', 'post', 'put', 'delete', 'patch'), { nil: undefined }),
        idLike,
        fc.boolean(),
        fc.option(headerValue, { nil: undefined }),
        fc.option(
          fc.oneof(
            jsonish.map((j) => JSON.stringify(j) ?? ''),
            fc.string({ maxLength: 500 }),
          ),
          { nil: undefined },
        ),
        fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
        async (route, otherMethod, id, withToken, uploadHeader, body, page) => {
          const method = otherMethod ?? route.method;
          const path = route.path.replace('{/:id}', `/${id}`).replace(':id', id).replace(':token', id);
          let req = request(server)
            [method](page === undefined ? path : `${path}?page=${encodeURIComponent(page)}`)
            .timeout(10_000);
          if (withToken) req = req.set('Authorization', `Bearer ${c.token}`);
          if (uploadHeader !== undefined)
            req = req.set('X-Gateway-Upload', uploadHeader).set('X-Upload-JSON', uploadHeader).set('X-Gateway-Upload-Segment', uploadHeader);
          const res = await (body === undefined ? req : req.send(body));
          if (res.status >= 500) throw new Error(`${method.toUpperCase()} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400 && (res.body as { status?: number }).status !== res.status) {
            throw new Error(`${method.toUpperCase()} ${path.slice(0, 100)}: ${res.status} without the JSON error shape`);
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(await keysUnder(gw.bucket, neighbour)).toEqual(outsideBefore);
    const log = gw.logLines.join('\n');
    expect(log).not.toContain(c.token);
  }, 120_000);
});
