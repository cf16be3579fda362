import * as oidc from 'openid-client';
import { GatewayError } from '../../../errors.js';

/** How the gateway authenticates itself to the provider: a client secret, or a private key (private_key_jwt). */
export type ClientCredential = { secret: string } | { privateKey: oidc.CryptoKey; keyId?: string | undefined };

export interface RelyingPartyOptions {
  issuer: URL;
  clientId: string;
  credential: ClientCredential;
  redirectUrl: URL;
  scopes: string;
  /** Seconds each call to the provider may take. */
  timeoutSec: number;
}

/** What a sign-in or a refresh learnt from the provider. */
export interface ProviderAnswer {
  /** The ID token's claims, completed by the userinfo endpoint's where it has one. */
  claims: Record<string, unknown> & { sub: string };
  refreshToken: string | undefined;
  /** Epoch ms at which the ID token expires (what bounds a session without a refresh token). */
  idTokenExpiresAt: number | undefined;
}

/** The checks an authorization response must pass, made when the sign-in began. */
export interface PendingChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** The provider said no (an error in the callback or at its token endpoint), or its answer failed the checks. */
export class ProviderRefusal extends Error {}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * The gateway as an OpenID Connect relying party, through openid-client (certified): discovery, the
 * authorization code flow with PKCE, ID token validation (issuer, audience, signature from the JWKS,
 * which it fetches again for a key it does not know, expiry, nonce), userinfo, refresh and revocation.
 * Discovery happens on first use and again after a failure, so the gateway starts while the provider is down.
 */
export class RelyingParty {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(private readonly opts: RelyingPartyOptions) {}

  private config(): Promise<oidc.Configuration> {
    this.configuration ??= this.discover().catch((err: unknown) => {
      this.configuration = undefined;
      throw err;
    });
    return this.configuration;
  }

  private async discover(): Promise<oidc.Configuration> {
    const { issuer, clientId, credential, timeoutSec } = this.opts;
    const auth = 'secret' in credential ? oidc.ClientSecretBasic(credential.secret) : oidc.PrivateKeyJwt({ key: credential.privateKey, kid: credential.keyId });
    const options: oidc.DiscoveryRequestOptions = { timeout: timeoutSec };
    // Plain HTTP only to a provider on this machine (config refuses any other).
    if (issuer.protocol === 'http:' && isLoopback(issuer.hostname)) options.execute = [oidc.allowInsecureRequests];
    try {
      const config = await oidc.discovery(issuer, clientId, undefined, auth, options);
      config.timeout = timeoutSec;
      return config;
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Where the browser goes to sign in. */
  async authorizationUrl(checks: PendingChecks): Promise<string> {
    const config = await this.config();
    return oidc
      .buildAuthorizationUrl(config, {
        redirect_uri: this.opts.redirectUrl.href,
        scope: this.opts.scopes,
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      })
      .toString();
  }

  /** The browser came back with `query` (a code, or the provider's error): exchanges and checks it. */
  async exchange(query: URLSearchParams, checks: PendingChecks): Promise<ProviderAnswer> {
    const config = await this.config();
    // The URL the provider redirected to, as configured: never built from the request's Host header.
    const current = new URL(this.opts.redirectUrl.href);
    current.search = query.toString();
    const tokens = await call(() =>
      oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      }),
    );
    return this.answer(config, tokens, undefined);
  }

  /** New tokens for a refresh token; the person must still be `sub`. */
  async refresh(refreshToken: string, sub: string): Promise<ProviderAnswer> {
    const config = await this.config();
    const tokens = await call(() => oidc.refreshTokenGrant(config, refreshToken));
    return this.answer(config, tokens, sub);
  }

  /** Tells the provider the refresh token is no longer wanted, where it has a revocation endpoint. */
  async revoke(refreshToken: string): Promise<void> {
    const config = await this.config();
    if (!config.serverMetadata().revocation_endpoint) return;
    await call(() => oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' }));
  }

  private async answer(
    config: oidc.Configuration,
    tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
    expectedSub: string | undefined,
  ): Promise<ProviderAnswer> {
    const idClaims = tokens.claims();
    const sub = idClaims?.sub ?? expectedSub;
    if (sub === undefined) throw new ProviderRefusal('the identity provider sent no ID token');
    if (expectedSub !== undefined && sub !== expectedSub) throw new ProviderRefusal('the identity provider names another person than at sign-in');
    let claims: Record<string, unknown> = { ...idClaims };
    if (config.serverMetadata().userinfo_endpoint) {
      const info = await call(() => oidc.fetchUserInfo(config, tokens.access_token, sub));
      claims = { ...claims, ...info };
    }
    return {
      claims: { ...claims, sub },
      refreshToken: tokens.refresh_token,
      idTokenExpiresAt: idClaims?.exp !== undefined ? idClaims.exp * 1000 : undefined,
    };
  }
}

function unavailable(err: unknown): GatewayError {
  return new GatewayError('unavailable', 'The identity provider does not answer; try again shortly.', {
    retryAfterSec: 5,
    cause: err,
    logDetails: { error: err instanceof Error ? err.message : String(err) },
  });
}

const NOT_ANSWERING = new Set(['OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON']);

/** One call to the provider: its refusals and failed checks as ProviderRefusal, anything else as 503. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError) {
      const said = err.error_description ? `${err.error}: ${err.error_description}` : err.error;
      if (err instanceof oidc.ResponseBodyError && err.status >= 500) throw unavailable(err);
      throw new ProviderRefusal(`the identity provider answered ${said}`, { cause: err });
    }
    // A provider that answers with a server error or an HTML page is down, not refusing.
    if (err instanceof oidc.ClientError && err.code !== undefined && !NOT_ANSWERING.has(err.code))
      throw new ProviderRefusal(`the identity provider's answer failed the gateway's checks (${err.message})`, { cause: err });
    throw unavailable(err);
  }
}
