import { randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Express } from 'express';
import request from 'supertest';
import { idOf, uniqueRoot, type Json } from '../support/api.js';
import { signInAtProvider, startBrowser, type TestBrowser } from '../support/browser.js';
import { spawnGws } from '../support/gws.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';
import { describeWithBrowser, describeWithRedis } from '../support/targets.js';
import { waitFor } from '../support/processes.js';

/**
 * AUTH_MODE=oidc: odrive's oauth sign-in against a real OpenID Connect provider on loopback
 * (oidc-provider, tests/support/oidc-idp.ts), the browser part done by a real headless Chromium.
 */

/** An HTTP server listening before its app exists: the provider must know the callback URL first. */
interface Listener {
  url: string;
  attach(app: http.RequestListener): void;
  close(): Promise<void>;
}

async function listener(): Promise<Listener> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let handler: http.RequestListener | undefined;
  server.on('request', (req, res) => (handler ? handler(req, res) : res.writeHead(503).end()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attach: (app) => (handler = app),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const CALLBACK = '/oauth/back-from-provider';
const PASSWORD = 'provider-password';
/** Where people's roots go: a prefix of this run's own, since a real S3 bucket outlives the run. */
const PEOPLE = uniqueRoot('oidc-people');

let browser: TestBrowser;
let idp: TestIdp;
let front: Listener;
/** The callback URL of the gateways each test starts for itself. */
let spare: Listener;
let gw: TestGateway;

const oidcEnv = (callbackBase: string, extra: Record<string, string> = {}) => ({
  AUTH_MODE: 'oidc',
  OIDC_ISSUER: idp.issuer,
  OIDC_CLIENT_ID: idp.clientId,
  OIDC_CLIENT_SECRET: idp.clientSecret,
  OIDC_REDIRECT_URL: `${callbackBase}${CALLBACK}`,
  OIDC_ROOT: `${PEOPLE}{preferred_username}/`,
  ...extra,
});

/** A gateway of a test's own, its callback at `spare`. */
async function ownGateway(env: Record<string, string>, provider: TestIdp = idp): Promise<TestGateway> {
  const own = await startTestGateway({
    store: 'memory',
    env: { ...oidcEnv(spare.url), OIDC_ISSUER: provider.issuer, OIDC_CLIENT_SECRET: provider.clientSecret, ...env },
  });
  spare.attach(own.runtime.app);
  return own;
}

async function begin(app: Express): Promise<{ url: string; state: string }> {
  const res = await request(app).get('/v2/gateway_auth_method').expect(200);
  expect(res.body['gateway.auth.method']).toBe('oauth');
  return { url: res.body['gateway.auth.oauth.url'] as string, state: res.body['gateway.auth.oauth.state'] as string };
}

const collect = (app: Express, state: unknown) => request(app).post('/v2/gateway_auth').send({ 'gateway.auth.oauth.state': state });

/** The person signs in at `url` in a fresh browser; answers the heading of the page they end on. */
async function atProvider(url: string, username: string, password = PASSWORD): Promise<string | null> {
  const page = await browser.page();
  try {
    await signInAtProvider(page, url, username, password);
    return await page.textContent('h1');
  } finally {
    await page.context().close();
  }
}

/** The whole sign-in as odrive and its person do it; answers the tokens. */
async function signIn(app: Express, username: string): Promise<Json> {
  const { url, state } = await begin(app);
  const page = await browser.page();
  try {
    await signInAtProvider(page, url, username, PASSWORD);
    expect(await page.textContent('body', { timeout: 5000 })).toMatch(/^Signed in/);
  } finally {
    await page.context().close();
  }
  return (await collect(app, state).expect(200)).body as Json;
}

const as = (app: Express, token: unknown) => ({
  get: (url: string) =>
    request(app)
      .get(url)
      .set('Authorization', `Bearer ${String(token)}`),
  post: (url: string, body?: object) =>
    request(app)
      .post(url)
      .set('Authorization', `Bearer ${String(token)}`)
      .send(body),
});

describeWithBrowser('AUTH_MODE=oidc (a real provider, a real browser)', () => {
  beforeAll(async () => {
    browser = await startBrowser();
    front = await listener();
    spare = await listener();
    idp = await startTestIdp({ redirectUris: [`${front.url}${CALLBACK}`, `${spare.url}${CALLBACK}`] });
    for (const [name, groups] of [
      ['alice', ['staff']],
      ['bob', ['staff', 'auditors']],
      ['carol', ['contractors']],
      ['dave', ['staff']],
    ] as const) {
      idp.people.set(name, { password: PASSWORD, email: `${name}@example.org`, groups: [...groups] });
    }
    gw = await startTestGateway({
      store: 'memory',
      env: oidcEnv(front.url, { OIDC_ALLOWED_GROUPS: 'staff', OIDC_READONLY_GROUPS: 'auditors' }),
    });
    front.attach(gw.runtime.app);
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await front?.close();
    await spare?.close();
    await idp?.close();
    await browser?.close();
  });

  describe('AUTH_MODE=oidc: the oauth sign-in through an OpenID Connect provider', () => {
    it('signs in through the provider in a browser: the client collects its tokens with the state, once', async () => {
      const app = gw.runtime.app;
      const { url, state } = await begin(app);
      const auth = new URL(url);
      expect(auth.origin).toBe(idp.issuer);
      expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
      expect(auth.searchParams.get('state')).toBe(state);
      expect(auth.searchParams.get('nonce')).toBeTruthy();
      expect(auth.searchParams.get('redirect_uri')).toBe(`${front.url}${CALLBACK}`);

      const early = await collect(app, state).expect(403);
      expect(early.body.message).toMatch(/not been completed in the browser yet/);

      const page = await browser.page();
      try {
        await signInAtProvider(page, url, 'alice', PASSWORD);
        expect(page.url().startsWith(`${front.url}${CALLBACK}?`)).toBe(true);
        expect(await page.textContent('h1')).toBe('Signed in');
        expect(await page.textContent('p')).toContain('signed in as alice@example.org');
        const csp = (await page.request.get(page.url())).headers()['content-security-policy'];
        expect(csp).toContain("default-src 'none'");
      } finally {
        await page.context().close();
      }

      const tokens = (await collect(app, state).expect(200)).body as Json;
      expect(tokens['gateway.auth.access.token']).toMatch(/^gwa_/);
      expect(tokens['gateway.auth.refresh.token']).toMatch(/^gwr_/);
      const again = await collect(app, state).expect(403);
      expect(again.body.message).toMatch(/already used/);

      // alice's root is her own folder, from her claims.
      const alice = as(app, tokens['gateway.auth.access.token']);
      await alice.post(`/v2/gateway_metadata_folder/${tokens['gateway.auth.metadata.id'] as string}`, { 'gateway.metadata.name': 'notes' }).expect(200);
      const listed = await gw.bucket.client.send(new ListObjectsV2Command({ Bucket: gw.bucket.name, Prefix: `${PEOPLE}alice/` }));
      expect((listed.Contents ?? []).map((o) => o.Key)).toContain(`${PEOPLE}alice/notes/`);
    });

    it('gives one gateway.auth.id per person across sign-ins, and another to someone else', async () => {
      const app = gw.runtime.app;
      const first = await signIn(app, 'dave');
      const second = await signIn(app, 'dave');
      const other = await signIn(app, 'alice');
      expect(second['gateway.auth.id']).toBe(first['gateway.auth.id']);
      expect(other['gateway.auth.id']).not.toBe(first['gateway.auth.id']);
    });

    it('answers 400 without a state and 403 for an unknown one', async () => {
      const app = gw.runtime.app;
      const missing = await request(app).post('/v2/gateway_auth').send({}).expect(400);
      expect(missing.body.message).toContain('gateway.auth.oauth.state');
      const wrongType = await collect(app, 42).expect(400);
      expect(wrongType.body.message).toContain('gateway.auth.oauth.state');
      const unknown = await collect(app, randomBytes(32).toString('base64url')).expect(403);
      expect(unknown.body.message).toMatch(/is unknown/);
    });

    it('leaves the sign-in open after a wrong password at the provider, and answers 403 with what the provider said when the person cancels', async () => {
      const app = gw.runtime.app;
      const { url, state } = await begin(app);
      const page = await browser.page();
      try {
        await signInAtProvider(page, url, 'alice', 'not-her-password');
        expect(await page.textContent('#error')).toContain('Wrong user name or password');
        expect((await collect(app, state).expect(403)).body.message).toMatch(/not been completed/);
        await page.click('#cancel');
        await page.waitForLoadState('load');
        expect(await page.textContent('h1')).toBe('Not signed in');
        // The provider's words, shown as text: its markup is escaped, never run.
        expect(await page.textContent('p')).toContain('access_denied');
        expect(await page.textContent('p')).toContain('<script>');
      } finally {
        await page.context().close();
      }
      const refused = await collect(app, state).expect(403);
      expect(refused.body.message).toContain('access_denied');
    });

    it('lets in only members of OIDC_ALLOWED_GROUPS, and makes members of OIDC_READONLY_GROUPS read-only', async () => {
      const app = gw.runtime.app;
      const { url, state } = await begin(app);
      const page = await browser.page();
      try {
        await signInAtProvider(page, url, 'carol', PASSWORD);
        expect(await page.textContent('h1')).toBe('Not signed in');
        expect(await page.textContent('p')).toMatch(/not a member of a group allowed/);
      } finally {
        await page.context().close();
      }
      expect((await collect(app, state).expect(403)).body.message).toMatch(/not a member of a group allowed/);

      const bob = await signIn(app, 'bob');
      const c = as(app, bob['gateway.auth.access.token']);
      await c.get(`/v2/gateway_metadata_children/${bob['gateway.auth.metadata.id'] as string}`).expect(200);
      await c.post(`/v2/gateway_metadata_folder/${bob['gateway.auth.metadata.id'] as string}`, { 'gateway.metadata.name': 'nope' }).expect(403);
    });

    it('ends the session at the next refresh once the provider disables the person', async () => {
      const app = gw.runtime.app;
      const tokens = await signIn(app, 'dave');
      const refreshed = await request(app)
        .post('/v2/gateway_auth_access')
        .send({ 'gateway.auth.refresh.token': tokens['gateway.auth.refresh.token'] })
        .expect(200);
      idp.people.get('dave')!.disabled = true;
      try {
        const refused = await request(app)
          .post('/v2/gateway_auth_access')
          .send({ 'gateway.auth.refresh.token': refreshed.body['gateway.auth.refresh.token'] })
          .expect(403);
        expect(refused.body.message).toMatch(/identity provider no longer accepts/);
        await as(app, refreshed.body['gateway.auth.access.token'])
          .get(`/v2/gateway_metadata/${idOf('')}`)
          .expect(401);
      } finally {
        idp.people.get('dave')!.disabled = false;
      }
    });

    it('refuses a tampered callback: a state swapped for another sign-in’s, a nonce changed on the way, a code for another application', async () => {
      const app = gw.runtime.app;
      const a = await begin(app);
      const b = await begin(app);
      // The browser signs in for A, but the answer is taken on its way back to the gateway.
      let returned: URL | undefined;
      front.attach((req, res) => {
        returned = new URL(req.url!, front.url);
        res.writeHead(204).end();
      });
      const page = await browser.page();
      try {
        await signInAtProvider(page, a.url, 'alice', PASSWORD);
      } finally {
        front.attach(gw.runtime.app);
        await page.context().close();
      }
      expect(returned?.searchParams.get('code')).toBeTruthy();
      const swapped = new URLSearchParams(returned!.search);
      swapped.set('state', b.state);
      const res = await request(app).get(`${CALLBACK}?${swapped.toString()}`).expect(403);
      expect(res.text).toMatch(/Sign-in failed/);
      expect((await collect(app, b.state).expect(403)).body.message).toMatch(/Sign-in failed/);
      expect((await collect(app, a.state).expect(403)).body.message).toMatch(/not been completed/);

      // A link whose nonce was changed: the provider puts that nonce in the ID token, which the gateway refuses.
      const c = await begin(app);
      const tampered = new URL(c.url);
      tampered.searchParams.set('nonce', 'chosen-by-someone-else');
      expect(await atProvider(tampered.href, 'alice')).toBe('Not signed in');
      expect((await collect(app, c.state).expect(403)).body.message).toMatch(/failed the gateway's checks/);

      // A link made out to another application at the provider: its code (and ID token) are not the gateway's.
      const d = await begin(app);
      const foreign = new URL(d.url);
      foreign.searchParams.set('client_id', 'other-app');
      expect(await atProvider(foreign.href, 'alice')).toBe('Not signed in');
      expect((await collect(app, d.state).expect(403)).body.message).toMatch(/Sign-in failed/);
    });

    it('keeps signing people in after the provider rotates its signing key', async () => {
      const app = gw.runtime.app;
      await signIn(app, 'alice');
      await idp.rotateKeys();
      const after = await signIn(app, 'alice');
      expect(after['gateway.auth.access.token']).toMatch(/^gwa_/);
    });

    it('signs the Gateway Shell in: gws mounts add shows the address, waits for the browser, and mounts', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'oidc-gws-'));
      const config = path.join(dir, 'gws', 'config.json');
      /** gws mounts add, with the person signing in (or not) as `who` once it shows the address. */
      const mountAs = async (mount: string, who: string) => {
        const gws = spawnGws(['mounts', 'add', mount, front.url, '--wait', '60'], { cwd: dir, config });
        let out = '';
        const shown = new Promise<string>((resolve) =>
          gws.child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /^sign in in a browser at this address: (\S+)$/m.exec(out);
            if (m) resolve(m[1]!);
          }),
        );
        const page = await browser.page();
        try {
          await signInAtProvider(page, await shown, who, PASSWORD);
        } finally {
          await page.context().close();
        }
        return gws.done;
      };
      try {
        const ok = await mountAs('corp', 'alice');
        expect(ok).toMatchObject({ code: 0, stderr: '' });
        expect(ok.stdout).toContain(`mounted ${front.url} at /gateway/corp`);
        expect(await spawnGws(['mkdir', '/gateway/corp/from-gws'], { cwd: dir, config }).done).toMatchObject({ code: 0, stderr: '' });
        const listed = await spawnGws(['ls', '/gateway/corp'], { cwd: dir, config }).done;
        expect(listed).toMatchObject({ code: 0, stderr: '' });
        expect(listed.stdout.split('\n')).toContain('from-gws/');

        const refused = await mountAs('other', 'carol');
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/^gws: not signed in: sign in: 403 You are not a member of a group allowed/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('tells clients of the seed dialect to use the Gateway API v2', async () => {
      const res = await request(gw.runtime.app).post('/v2/auth').send({ user: 'alice', password: PASSWORD }).expect(400);
      expect(res.body.message).toMatch(/gateway_auth_method/);
    });

    it('revokes the provider’s refresh token when the session signs out', async () => {
      const app = gw.runtime.app;
      const tokens = await signIn(app, 'alice');
      const before = await idp.liveRefreshTokens();
      await request(app)
        .delete(`/v2/gateway_auth/${tokens['gateway.auth.access.token'] as string}`)
        .expect(200);
      await waitFor(async () => (await idp.liveRefreshTokens()) === before - 1, 'the provider to revoke the refresh token');
    });
  });

  describe('AUTH_MODE=oidc, settings and providers that differ', () => {
    it('lets a sign-in expire after OIDC_STATE_TTL: then its state is refused as expired, in the browser too', async () => {
      const own = await ownGateway({ OIDC_STATE_TTL: '5' });
      try {
        const { state } = await begin(own.runtime.app);
        expect((await collect(own.runtime.app, state).expect(403)).body.message).toMatch(/not been completed/);
        let last = '';
        await waitFor(
          async () => {
            last = (await collect(own.runtime.app, state)).body.message as string;
            return /has expired/.test(last);
          },
          'the state to expire',
          15_000,
        );
        const late = await request(own.runtime.app).get(`${CALLBACK}?state=${state}&code=whatever`).expect(400);
        expect(late.text).toMatch(/has expired/);
      } finally {
        await own.close();
      }
    });

    it('shows the mounts granted to the person’s groups at the root, and takes one away at the next refresh once the group goes', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'oidc-mounts-'));
      const file = path.join(dir, 'mounts.yaml');
      const staff = uniqueRoot('oidc-staff');
      await writeFile(
        file,
        [
          'mounts:',
          '  - name: Staff',
          `    prefix: ${staff}`,
          '    groups: [staff]',
          '  - name: Audit',
          `    prefix: ${uniqueRoot('oidc-audit')}`,
          '    readOnly: true',
          '    groups: [auditors]',
          '',
        ].join('\n'),
      );
      const own = await ownGateway({ MOUNTS_FILE: file });
      const root = async (token: unknown) =>
        ((await as(own.runtime.app, token).get('/v2/gateway_metadata_children/root').expect(200)).body as Json[]).map((e) => e['gateway.metadata.name']).sort();
      try {
        const bob = await signIn(own.runtime.app, 'bob');
        expect(await root(bob['gateway.auth.access.token'])).toEqual(expect.arrayContaining(['Audit', 'Staff']));
        await as(own.runtime.app, bob['gateway.auth.access.token'])
          .post(`/v2/gateway_metadata_folder/${idOf('Audit/')}`, { 'gateway.metadata.name': 'nope' })
          .expect(403);
        const alice = await signIn(own.runtime.app, 'alice');
        const aliceRoot = await root(alice['gateway.auth.access.token']);
        expect(aliceRoot).toContain('Staff');
        expect(aliceRoot).not.toContain('Audit');
        await as(own.runtime.app, alice['gateway.auth.access.token'])
          .post(`/v2/gateway_metadata_folder/${idOf('Staff/')}`, { 'gateway.metadata.name': 'from-alice' })
          .expect(200);
        expect((await own.bucket.list(staff, { delimiter: '/' })).prefixes).toEqual([`${staff}from-alice/`]);
        // the provider takes alice out of staff: her next refresh takes the mount away
        idp.people.get('alice')!.groups = [];
        const refreshed = await request(own.runtime.app)
          .post('/v2/gateway_auth_access')
          .send({ 'gateway.auth.refresh.token': alice['gateway.auth.refresh.token'] })
          .expect(200);
        expect(await root(refreshed.body['gateway.auth.access.token'])).not.toContain('Staff');
        await as(own.runtime.app, refreshed.body['gateway.auth.access.token'])
          .get(`/v2/gateway_metadata_children/${idOf('Staff/')}`)
          .expect(404);
      } finally {
        idp.people.get('alice')!.groups = ['staff'];
        await own.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('limits the sign-ins one address may begin, with 429 and Retry-After', async () => {
      const own = await ownGateway({ SIGNIN_ADDRESS_MAX_ATTEMPTS: '3' });
      try {
        for (let i = 0; i < 3; i++) await begin(own.runtime.app);
        const res = await request(own.runtime.app).get('/v2/gateway_auth_method').expect(429);
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      } finally {
        await own.close();
      }
    });

    it('authenticates to the provider with a private key (private_key_jwt) instead of a secret', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'oidc-key-'));
      const keyFile = path.join(dir, 'client.pem');
      await writeFile(keyFile, idp.keyClientPem);
      const own = await ownGateway({ OIDC_CLIENT_ID: idp.keyClientId, OIDC_CLIENT_SECRET: '', OIDC_CLIENT_PRIVATE_KEY_FILE: keyFile });
      try {
        const tokens = await signIn(own.runtime.app, 'alice');
        expect(tokens['gateway.auth.access.token']).toMatch(/^gwa_/);
      } finally {
        await own.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    describe('a provider that puts the claims in the ID token only and issues no refresh token', () => {
      let plain: TestIdp;
      beforeAll(async () => {
        plain = await startTestIdp({ redirectUris: [`${spare.url}${CALLBACK}`], claimsInIdToken: true, refreshTokens: false, idTokenTtlSec: 4 });
        plain.people.set('alice', { password: PASSWORD, email: 'alice@example.org', groups: ['staff'] });
        plain.people.set('carol', { password: PASSWORD, email: 'carol@example.org', groups: ['contractors'] });
      });
      afterAll(() => plain?.close());

      it('reads root and groups from the ID token', async () => {
        const own = await ownGateway({ OIDC_ALLOWED_GROUPS: 'staff' }, plain);
        try {
          const tokens = await signIn(own.runtime.app, 'alice');
          const alice = as(own.runtime.app, tokens['gateway.auth.access.token']);
          await alice
            .post(`/v2/gateway_metadata_folder/${tokens['gateway.auth.metadata.id'] as string}`, { 'gateway.metadata.name': 'from-id-token' })
            .expect(200);
          const listed = await own.bucket.client.send(new ListObjectsV2Command({ Bucket: own.bucket.name, Prefix: `${PEOPLE}alice/from-id-token/` }));
          expect(listed.KeyCount).toBe(1);
          const { url, state } = await begin(own.runtime.app);
          const page = await browser.page();
          try {
            await signInAtProvider(page, url, 'carol', PASSWORD);
          } finally {
            await page.context().close();
          }
          expect((await collect(own.runtime.app, state).expect(403)).body.message).toMatch(/not a member/);
        } finally {
          await own.close();
        }
      });

      it('ends the session with the ID token, unless OIDC_KEEP_SESSION_WITHOUT_REFRESH_TOKEN says otherwise', async () => {
        const strict = await ownGateway({}, plain);
        let tokens: Json;
        try {
          tokens = await signIn(strict.runtime.app, 'alice');
        } finally {
          spare.attach(gw.runtime.app);
        }
        const lenient = await ownGateway({ OIDC_KEEP_SESSION_WITHOUT_REFRESH_TOKEN: 'true' }, plain);
        try {
          const kept = await signIn(lenient.runtime.app, 'alice');
          const root = `/v2/gateway_metadata_children/${tokens['gateway.auth.metadata.id'] as string}`;
          await as(strict.runtime.app, tokens['gateway.auth.access.token']).get(root).expect(200);
          // The ID token lives 4 s: then the strict gateway's session is over.
          let status = 0;
          await waitFor(
            async () => {
              status = (await as(strict.runtime.app, tokens['gateway.auth.access.token']).get(root)).status;
              return status === 401;
            },
            'the session to end with the ID token',
            15_000,
          );
          // (401, as for any credential that expired: refreshing cannot renew it.)
          const refused = await request(strict.runtime.app)
            .post('/v2/gateway_auth_access')
            .send({ 'gateway.auth.refresh.token': tokens['gateway.auth.refresh.token'] })
            .expect(401);
          expect(refused.body.message).toMatch(/identity provider has ended/);
          await as(lenient.runtime.app, kept['gateway.auth.access.token']).get(root).expect(200);
          await request(lenient.runtime.app)
            .post('/v2/gateway_auth_access')
            .send({ 'gateway.auth.refresh.token': kept['gateway.auth.refresh.token'] })
            .expect(200);
        } finally {
          await lenient.close();
          await strict.close();
        }
      });
    });
  });

  describeWithRedis('AUTH_MODE=oidc with two gateway instances on one Redis', () => {
    it('takes the browser’s callback on one instance and the client’s POST on the other', async () => {
      const credentialsKey = randomBytes(32).toString('base64');
      const prefix = `oidc-${randomBytes(4).toString('hex')}:`;
      const env = { ...oidcEnv(front.url), CREDENTIALS_KEY: credentialsKey, REDIS_KEY_PREFIX: prefix };
      const one = await startTestGateway({ store: 'redis', env });
      const two = await startTestGateway({ store: 'redis', env });
      // The callback URL (front) reaches instance two; the client talks to instance one.
      front.attach(two.runtime.app);
      try {
        const { url, state } = await begin(one.runtime.app);
        const page = await browser.page();
        try {
          await signInAtProvider(page, url, 'alice', PASSWORD);
          expect(await page.textContent('h1')).toBe('Signed in');
        } finally {
          await page.context().close();
        }
        const tokens = (await collect(one.runtime.app, state).expect(200)).body as Json;
        await as(two.runtime.app, tokens['gateway.auth.access.token'])
          .get(`/v2/gateway_metadata_children/${tokens['gateway.auth.metadata.id'] as string}`)
          .expect(200);
      } finally {
        front.attach(gw.runtime.app);
        await one.close();
        await two.close();
      }
    });
  });
});
