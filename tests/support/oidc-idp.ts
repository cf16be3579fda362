import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * A real OpenID Connect provider on loopback for the oidc tests: oidc-provider (a certified OpenID
 * provider), with a login page of its own that checks passwords, people who can be disabled or change
 * groups, a confidential client (secret or private_key_jwt), and signing keys that can be rotated.
 */
export interface Person {
  password: string;
  email: string;
  groups: string[];
  disabled?: boolean;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The client that authenticates with private_key_jwt, and its key (PKCS#8 PEM). */
  keyClientId: string;
  keyClientPem: string;
  /** By user name (which is also the subject). */
  people: Map<string, Person>;
  /** Replaces the signing key with a new one (a new kid): tokens signed before no longer verify with the JWKS. */
  rotateKeys(): Promise<void>;
  /** Refresh tokens the provider still honours (revoked ones are gone). */
  liveRefreshTokens(): Promise<number>;
  close(): Promise<void>;
}

export interface IdpOptions {
  redirectUris: string[];
  /** Claims in the ID token only (no userinfo endpoint), as some providers do; default: userinfo only. */
  claimsInIdToken?: boolean;
  /** Issue refresh tokens (default true). */
  refreshTokens?: boolean;
  /** Seconds an ID token is valid (default 3600). */
  idTokenTtlSec?: number;
}

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

function loginForm(uid: string, error?: string): string {
  return page(
    'Sign in to the test provider',
    `${error ? `<p id="error">${error}</p>` : ''}
    <form method="post" action="/interaction/${uid}/login">
      <input name="username" id="username"><input name="password" id="password" type="password">
      <button type="submit" id="submit">Sign in</button>
    </form>
    <a id="cancel" href="/interaction/${uid}/abort">Cancel</a>`,
  );
}

const newSigningKey = () => ({
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(6).toString('hex'),
  use: 'sig',
});

/**
 * Jest runs a test file in a realm of its own, but its structuredClone makes objects of Node's main realm,
 * which oidc-provider's checks (`constructor === Object`) then refuse for the clients it clones at start:
 * they are cloned within this realm instead (the metadata is plain JSON).
 */
function newProvider(issuer: string, configuration: Configuration): Provider {
  const hostClone = globalThis.structuredClone;
  globalThis.structuredClone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  try {
    return new Provider(issuer, configuration);
  } finally {
    globalThis.structuredClone = hostClone;
  }
}

export async function startTestIdp(opts: IdpOptions): Promise<TestIdp> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const people = new Map<string, Person>();
  const clientSecret = randomBytes(24).toString('hex');
  const clientKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyClientPem = clientKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const issued = new Set<string>();
  const claimsOf = (sub: string) => {
    const p = people.get(sub)!;
    return { sub, email: p.email, email_verified: true, preferred_username: sub, name: sub, groups: p.groups };
  };

  const configuration = (keys: object[]): Configuration => ({
    clients: [
      {
        client_id: 'gateway',
        client_secret: clientSecret,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
      {
        // Another application at the same provider, with the same callback registered.
        client_id: 'other-app',
        client_secret: randomBytes(24).toString('hex'),
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
      {
        client_id: 'gateway-with-key',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [{ ...clientKey.publicKey.export({ format: 'jwk' }), kid: 'client-key-1', use: 'sig' }] },
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'groups'] },
    conformIdTokenClaims: !opts.claimsInIdToken,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: !opts.claimsInIdToken },
    },
    pkce: { required: () => true },
    ttl: { IdToken: opts.idTokenTtlSec ?? 3600, AccessToken: 3600, RefreshToken: 24 * 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async (_ctx, client) => opts.refreshTokens !== false && client.grantTypeAllowed('refresh_token'),
    // A first-party client: no consent screen, every scope granted.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { client, session } = ctx.oidc;
      const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId ?? session!.grantIdFor(client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: client!.clientId, accountId: session!.accountId! });
      grant.addOIDCScope('openid email profile offline_access');
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, sub) => {
      const p = people.get(sub);
      if (!p || p.disabled) return undefined;
      return { accountId: sub, claims: async () => claimsOf(sub) };
    },
  });

  let provider = newProvider(issuer, configuration([newSigningKey()]));
  const track = (p: Provider) => p.on('refresh_token.saved', (t: { jti: string }) => issued.add(t.jti));
  track(provider);

  const app = express();
  const form = express.urlencoded({ extended: false });
  app.get('/interaction/:uid', async (req, res) => {
    const details = await provider.interactionDetails(req, res);
    res.type('html').send(loginForm(details.uid));
  });
  app.post('/interaction/:uid/login', form, async (req, res) => {
    const details = await provider.interactionDetails(req, res);
    const { username, password } = req.body as { username?: string; password?: string };
    const person = username ? people.get(username) : undefined;
    if (!person || person.password !== password || person.disabled) {
      res.type('html').send(loginForm(details.uid, 'Wrong user name or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: username! } }, { mergeWithLastSubmission: false });
  });
  app.get('/interaction/:uid/abort', async (req, res) => {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The person said no <script>alert(1)</script>' },
      {
        mergeWithLastSubmission: false,
      },
    );
  });
  app.use((req, res) => provider.callback()(req, res));
  server.on('request', app);

  return {
    issuer,
    clientId: 'gateway',
    clientSecret,
    keyClientId: 'gateway-with-key',
    keyClientPem,
    people,
    async rotateKeys() {
      provider = newProvider(issuer, configuration([newSigningKey()]));
      track(provider);
    },
    async liveRefreshTokens() {
      let live = 0;
      for (const jti of issued) if (await provider.RefreshToken.find(jti)) live++;
      return live;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
