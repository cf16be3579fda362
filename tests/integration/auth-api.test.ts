import express from 'express';
import request from 'supertest';
import { errorHandler } from '../../src/http/errors.js';
import { authenticate } from '../../src/http/middleware/authenticate.js';
import { DEMO_PASSWORD, startTestGateway, type TestGateway } from '../support/gateway.js';
import { waitFor } from '../support/processes.js';
import { describeWithRedis } from '../support/targets.js';

const signInBody = { user: 'demo', password: DEMO_PASSWORD };

function authApi(store: 'memory' | 'redis') {
  let gw: TestGateway;
  let app: express.Express;
  /** A route behind the gateway's own authentication middleware, to observe what a token is worth. */
  let guarded: express.Express;

  beforeAll(async () => {
    gw = await startTestGateway({ store, env: { SIGNIN_ACCOUNT_MAX_FAILURES: '3', SIGNIN_ADDRESS_MAX_ATTEMPTS: '1000' } });
    app = gw.runtime.app;
    guarded = express();
    guarded.get('/whoami', authenticate(gw.runtime.services.sessions), (_req, res) => {
      res.json({ account: res.locals.account });
    });
    guarded.use(errorHandler(gw.logger));
  });
  afterAll(() => gw.close());

  const signIn = () => request(app).post('/v2/gateway_auth').send(signInBody).expect(200);

  it('offers a user/password form', async () => {
    const res = await request(app).get('/v2/gateway_auth_method').expect(200);
    expect(res.body['gateway.auth.method']).toBe('form');
    expect(res.body['gateway.auth.form'].map((f: Record<string, unknown>) => f['gateway.auth.form.input.field.name'])).toEqual(['user', 'password']);
    expect(res.body['gateway.auth.form'][1]).toMatchObject({
      'gateway.auth.form.input.field.prompt': 'Password',
      'gateway.auth.form.input.field.required': true,
      'gateway.auth.form.input.field.order': 2,
    });
  });

  it('signs in and answers with tokens, the root, the account id and the segment size', async () => {
    const res = await signIn();
    expect(res.body['gateway.auth.access.token']).toMatch(/^gwa_[A-Za-z0-9_-]{43}$/);
    expect(res.body['gateway.auth.refresh.token']).toMatch(/^gwr_[A-Za-z0-9_-]{43}$/);
    expect(res.body['gateway.auth.metadata.id']).toBe('root');
    expect(res.body['gateway.upload.segment.size']).toBe(16 * 1024 * 1024);
    const again = await signIn();
    expect(again.body['gateway.auth.id']).toBe(res.body['gateway.auth.id']);
    expect(again.body['gateway.auth.access.token']).not.toBe(res.body['gateway.auth.access.token']);
  });

  it('parses a JSON body sent without a Content-Type header', async () => {
    const res = await request(app)
      .post('/v2/gateway_auth')
      .set('Content-Type', '')
      .send(Buffer.from(JSON.stringify(signInBody)))
      .expect(200);
    expect(res.body['gateway.auth.access.token']).toBeDefined();
  });

  it.each([
    ['{"user":', 'body', /not valid JSON/],
    ['[1,2]', 'body', /must be a JSON object/],
    ['{"password":"x"}', 'user', /user: is required/],
    ['{"user":"demo"}', 'password', /password: is required/],
    ['{"user":42,"password":"x"}', 'user', /user: must be a string/],
  ])('answers 400 naming the field for %s', async (body, field, message) => {
    const res = await request(app).post('/v2/gateway_auth').set('Content-Type', 'application/json').send(body).expect(400);
    expect(res.body).toMatchObject({ error: 'invalid', status: 400, field });
    expect(res.body.message).toMatch(message);
  });

  it('refuses a wrong password with 403, the same as an unknown user', async () => {
    const wrong = await request(app).post('/v2/gateway_auth').send({ user: 'demo', password: 'nope' }).expect(403);
    const unknown = await request(app).post('/v2/gateway_auth').send({ user: 'nobody', password: 'nope' }).expect(403);
    expect(wrong.body.message).toBe(unknown.body.message);
  });

  it('throttles failed sign-ins per account with 429 and Retry-After, even for the right password', async () => {
    for (let i = 0; i < 3; i++)
      await request(app)
        .post('/v2/gateway_auth')
        .send({ user: 'target', password: `guess${i}` })
        .expect(403);
    const res = await request(app).post('/v2/gateway_auth').send({ user: 'target', password: 'guess9' }).expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body.error).toBe('rate_limited');
  });

  it('throttles sign-in attempts per client address with 429 and Retry-After', async () => {
    const limited = await startTestGateway({ store, env: { SIGNIN_ADDRESS_MAX_ATTEMPTS: '2', SIGNIN_ADDRESS_WINDOW: '60' } });
    try {
      const attempt = (user: string) => request(limited.runtime.app).post('/v2/gateway_auth').send({ user, password: 'wrong-password' });
      await attempt('one').expect(403);
      await attempt('two').expect(403);
      // a third account name from the same address: the address limit applies, whatever the name
      const res = await attempt('three').expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      await request(limited.runtime.app).post('/v2/gateway_auth').send(signInBody).expect(429);
    } finally {
      await limited.close();
    }
  });

  it('gives a burst of guesses sent at once exactly the allowed tries: the rest 429', async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        request(app)
          .post('/v2/gateway_auth')
          .send({ user: 'burst-target', password: `burst-guess-${i}` }),
      ),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array<number>(3).fill(403), ...Array<number>(9).fill(429)]);
  });

  it("gives an owner's successful sign-in its own try back, and leaves the failures against the name", async () => {
    const counted = await startTestGateway({ store, env: { SIGNIN_ACCOUNT_MAX_FAILURES: '3', SIGNIN_ADDRESS_MAX_ATTEMPTS: '1000' } });
    try {
      const attempt = (password: string) => request(counted.runtime.app).post('/v2/gateway_auth').send({ user: 'demo', password });
      await attempt('guess-1').expect(403);
      await attempt('guess-2').expect(403);
      await attempt(DEMO_PASSWORD).expect(200);
      await attempt('guess-3').expect(403);
      // three failures against the name, the owner's success notwithstanding
      await attempt(DEMO_PASSWORD).expect(429);
    } finally {
      await counted.close();
    }
  });

  it('refuses a burst beyond the password-check queue with 429 and Retry-After, then serves others as before', async () => {
    const queued = await startTestGateway({ store, env: { SIGNIN_QUEUE_SIZE: '1', SIGNIN_ADDRESS_MAX_ATTEMPTS: '1000' } });
    try {
      // Different names, so only the queue can refuse: two checks run, one waits, the rest are refused.
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          request(queued.runtime.app)
            .post('/v2/gateway_auth')
            .send({ user: `queued-${i}`, password: 'wrong-password' }),
        ),
      );
      const refused = answers.filter((r) => r.status === 429);
      expect(answers.every((r) => r.status === 403 || r.status === 429)).toBe(true);
      expect(refused.length).toBeGreaterThan(0);
      expect(answers.filter((r) => r.status === 403).length).toBeGreaterThanOrEqual(3);
      for (const r of refused) {
        expect(r.headers['retry-after']).toBe('1');
        expect(r.body).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/at once/) });
      }
      // Once the burst passed, sign-in works as before.
      await request(queued.runtime.app).post('/v2/gateway_auth').send(signInBody).expect(200);
    } finally {
      await queued.close();
    }
  });

  it('counts IPv6 clients per /64 for the address limit', async () => {
    const limited = await startTestGateway({ store, env: { SIGNIN_ADDRESS_MAX_ATTEMPTS: '2', TRUST_PROXY: 'true' } });
    try {
      const from = (address: string) =>
        request(limited.runtime.app).post('/v2/gateway_auth').set('X-Forwarded-For', address).send({ user: 'v6', password: 'wrong-password' });
      await from('2001:db8:1:2::a').expect(403);
      await from('2001:db8:1:2::b').expect(403);
      // another address of the same /64: one subscriber
      await from('2001:db8:1:2:ffff:1:2:3').expect(429);
      // the next /64 is someone else
      await from('2001:db8:1:3::a').expect(403);
    } finally {
      await limited.close();
    }
  });

  it('ends a session at SESSION_MAX_AGE, however often it was refreshed', async () => {
    // 3 s: room for a slow machine to refresh once before it ends; then refreshed until refused.
    const bounded = await startTestGateway({ store, env: { SESSION_MAX_AGE: '3' } });
    try {
      const startedAt = Date.now();
      const first = await request(bounded.runtime.app).post('/v2/gateway_auth').send(signInBody).expect(200);
      let tokens = first.body as Record<string, string>;
      const refresh = () =>
        request(bounded.runtime.app).post('/v2/gateway_auth_access').send({ 'gateway.auth.refresh.token': tokens['gateway.auth.refresh.token'] });
      const once = await refresh().expect(200);
      tokens = once.body as Record<string, string>;
      let refused: request.Response | undefined;
      await waitFor(
        async () => {
          const res = await refresh();
          if (res.status === 200) tokens = res.body as Record<string, string>;
          else refused = res;
          return refused !== undefined;
        },
        'refresh to be refused',
        15_000,
      );
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3000);
      expect(refused!.status).toBe(403);
      expect(refused!.body).toMatchObject({ error: 'forbidden', field: 'gateway.auth.refresh.token', message: expect.stringMatching(/maximum age/) });
      // the last access token it handed out has stopped too
      await request(bounded.runtime.app).get('/v2/gateway_metadata/root').set('Authorization', `Bearer ${tokens['gateway.auth.access.token']}`).expect(401);
    } finally {
      await bounded.close();
    }
  });

  it('refreshes: both tokens rotate, the old access token stops working', async () => {
    const s = await signIn();
    const r = await request(app).post('/v2/gateway_auth_access').send({ 'gateway.auth.refresh.token': s.body['gateway.auth.refresh.token'] }).expect(200);
    expect(r.body['gateway.auth.access.token']).not.toBe(s.body['gateway.auth.access.token']);
    expect(r.body['gateway.auth.refresh.token']).not.toBe(s.body['gateway.auth.refresh.token']);
    await request(guarded).get('/whoami').set('Authorization', `Bearer ${s.body['gateway.auth.access.token']}`).expect(401);
    const who = await request(guarded).get('/whoami').set('Authorization', `Bearer ${r.body['gateway.auth.access.token']}`).expect(200);
    expect(who.body.account).toBe('demo');
  });

  it('refuses a used refresh token with 403 and ends the whole session', async () => {
    const s = await signIn();
    const refresh = (token: string) => request(app).post('/v2/gateway_auth_access').send({ 'gateway.auth.refresh.token': token });
    const r = await refresh(s.body['gateway.auth.refresh.token']).expect(200);
    const reuse = await refresh(s.body['gateway.auth.refresh.token']).expect(403);
    expect(reuse.body.message).toMatch(/already used/);
    await request(guarded).get('/whoami').set('Authorization', `Bearer ${r.body['gateway.auth.access.token']}`).expect(401);
    await refresh(r.body['gateway.auth.refresh.token']).expect(403);
  });

  it('answers 400 for a refresh without a token and 403 for an unknown one', async () => {
    const missing = await request(app).post('/v2/gateway_auth_access').send({}).expect(400);
    expect(missing.body.field).toBe('gateway.auth.refresh.token');
    await request(app)
      .post('/v2/gateway_auth_access')
      .send({ 'gateway.auth.refresh.token': `gwr_${'x'.repeat(43)}` })
      .expect(403);
  });

  it('accepts the bearer scheme in any case and a bare token; refuses missing and unknown ones with 401', async () => {
    const token = (await signIn()).body['gateway.auth.access.token'];
    await request(guarded).get('/whoami').set('Authorization', `bearer ${token}`).expect(200);
    await request(guarded).get('/whoami').set('Authorization', token).expect(200);
    const none = await request(guarded).get('/whoami').expect(401);
    expect(none.body.error).toBe('unauthorized');
    await request(guarded)
      .get('/whoami')
      .set('Authorization', `Bearer gwa_${'z'.repeat(43)}`)
      .expect(401);
  });

  it('signs out immediately, and says 404 for a token it does not know', async () => {
    const s = await signIn();
    const token = s.body['gateway.auth.access.token'];
    await request(app).delete(`/v2/gateway_auth/${token}`).expect(200);
    await request(guarded).get('/whoami').set('Authorization', `Bearer ${token}`).expect(401);
    await request(app).post('/v2/gateway_auth_access').send({ 'gateway.auth.refresh.token': s.body['gateway.auth.refresh.token'] }).expect(403);
    await request(app).delete(`/v2/gateway_auth/${token}`).expect(404);
  });

  it('never writes a token or password to the log', async () => {
    const s = await signIn();
    await request(app).delete(`/v2/gateway_auth/${s.body['gateway.auth.access.token']}`).expect(200);
    const log = gw.logLines.join('\n');
    expect(log).toContain('"route":"/v2/gateway_auth/:token"');
    expect(log).not.toContain(s.body['gateway.auth.access.token']);
    expect(log).not.toContain(s.body['gateway.auth.refresh.token']);
    expect(log).not.toContain(DEMO_PASSWORD);
  });
}

describe('auth API with the in-process store', () => authApi('memory'));
describeWithRedis('auth API with Redis', () => authApi('redis'));
