import request from 'supertest';
import { waitFor } from '../support/processes.js';
import { sameS3, startTestGateway, type TestGateway } from '../support/gateway.js';
import { findRedisServer, startRedisServer } from '../support/redis-server.mjs';
import { describeWithRedis, describeWithRealS3 } from '../support/targets.js';

describe('health and readiness', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ store: 'memory' });
  });
  afterAll(() => gw.close());

  it('is alive and ready when S3 and the store answer', async () => {
    await request(gw.runtime.app).get('/healthz').expect(200, { status: 'ok' });
    const res = await request(gw.runtime.app).get('/readyz').expect(200);
    expect(res.body).toEqual({ status: 'ready', checks: { s3: 'ok', sessionStore: 'ok' } });
  });
});

describe('readiness without the bucket', () => {
  it('answers 503 with Retry-After and says S3 is the problem', async () => {
    const gw = await startTestGateway({ store: 'memory' });
    try {
      // A second gateway on the same S3, pointed at a bucket nobody created.
      const other = await startTestGateway({
        store: 'memory',
        env: { ...sameS3(gw), S3_BUCKET: 'no-such-bucket-gw-test' },
      });
      try {
        const res = await request(other.runtime.app).get('/readyz').expect(503);
        expect(res.headers['retry-after']).toBe('5');
        expect(res.body.checks.sessionStore).toBe('ok');
        expect(res.body.checks.s3).not.toBe('ok');
      } finally {
        await other.close();
      }
    } finally {
      await gw.close();
    }
  });
});

describeWithRedis('readiness when Redis goes away and comes back', () => {
  it('answers 503 while Redis is down and 200 again after it returns, without a restart', async () => {
    const bin = findRedisServer()!;
    let redis = await startRedisServer(bin);
    const gw = await startTestGateway({ store: 'redis', env: { REDIS_URL: redis.url, READY_TIMEOUT_MS: '1000', REDIS_COMMAND_TIMEOUT_MS: '500' } });
    try {
      await request(gw.runtime.app).get('/readyz').expect(200);
      await redis.stop();
      const started = Date.now();
      const down = await request(gw.runtime.app).get('/readyz').expect(503);
      expect(Date.now() - started).toBeLessThan(5000); // bounded, not hanging: a liveness bound, not a benchmark
      expect(down.body.checks.sessionStore).not.toBe('ok');
      // sign-in needs the store: 503 with Retry-After, not a 500 or a hang
      const signIn = await request(gw.runtime.app).post('/v2/gateway_auth').send({ user: 'demo', password: 'whatever1' }).expect(503);
      expect(signIn.headers['retry-after']).toBe('5');
      expect(signIn.body).toMatchObject({ error: 'unavailable', status: 503, message: expect.stringMatching(/session store/) });
      redis = await startRedisServer(bin, redis.port);
      await waitFor(async () => (await request(gw.runtime.app).get('/readyz')).status === 200, 'the gateway to be ready again');
    } finally {
      await gw.close();
      await redis.stop();
    }
  });
});

describeWithRealS3('readiness with a wrong S3 secret (real S3 only: s3rver checks no signatures)', () => {
  it('answers 503 and names S3', async () => {
    const gw = await startTestGateway({ store: 'memory', env: { S3_SECRET_ACCESS_KEY: 'wrong-secret-for-test' } });
    try {
      const res = await request(gw.runtime.app).get('/readyz').expect(503);
      expect(res.body.checks.s3).toMatch(/S3/);
      expect(JSON.stringify(res.body)).not.toContain('wrong-secret-for-test');
    } finally {
      await gw.close();
    }
  });
});
