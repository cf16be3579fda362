import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { BucketsByCredentials } from '../../storage/bucket-store.js';
import { fieldError, GatewayError, invalid } from '../../errors.js';
import { authIdFor, type Account } from './accounts.js';
import type { CredentialSeal } from './credential-seal.js';
import { checkCredentials } from './s3-key-sign-in.js';
import { formField, type FormField, type SignInMethod } from './sign-in.js';
import type { SignInThrottle } from './throttle.js';

/** What a session of this mode keeps, sealed: the Cells token, who it names and when it expires. */
interface CellsPrincipal {
  t: string;
  who: string;
  exp: number | undefined;
}

export const CELLS_TOKEN_EXPIRED = 'Your Pydio Cells token has expired. Sign in again with a new token: refreshing cannot renew a Cells token.';

/**
 * AUTH_MODE=pydio: Pydio Cells' S3 gateway, where the access key is the person's Cells token (a JWT)
 * and the secret is fixed. The root lists the workspaces (the top-level prefixes of the `io` bucket).
 */
export class CellsSignIn implements SignInMethod {
  readonly form: FormField[] = [{ name: 'token', prompt: 'Pydio Cells token (JWT)', required: true, order: 1 }];

  constructor(
    private readonly pool: BucketsByCredentials,
    private readonly seal: CredentialSeal,
    private readonly throttle: SignInThrottle,
    private readonly opts: { endpoint: string; bucket: string; secret: string; marginSec: number },
  ) {}

  async verify(fields: Record<string, string>, clientAddress: string): Promise<Account> {
    const token = fields.token!.trim();
    let claims: { sub?: unknown; exp?: unknown };
    try {
      claims = decodeJwt(token);
    } catch {
      throw invalid(formField('token'), 'is not a JWT (three base64url parts separated by dots); copy the whole token from Cells');
    }
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
    if (exp !== undefined && exp - this.opts.marginSec * 1000 <= Date.now()) {
      throw fieldError('forbidden', { field: formField('token'), problem: 'has expired (or expires within a minute); get a new one from Cells.' });
    }
    // Failures count against this token, not the person it claims to be: anyone can write a JWT with a
    // colleague's `sub`, and must not lock them out with it. The claim is trusted once Cells took the token.
    const tokenKey = createHash('sha256').update(token).digest('base64url');
    const attempt = await this.throttle.admit(tokenKey, clientAddress);
    await checkCredentials(this.pool, this.opts.bucket, this.credentials(token), attempt, 'Invalid credential: Pydio Cells refused this token.');
    // The person, not this token: a new token of the same person is the same account.
    const who = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : tokenKey;
    const p: CellsPrincipal = { t: token, who, exp };
    return this.account(p, await this.seal.seal(p));
  }

  async resolve(principal: string): Promise<Account | undefined> {
    const p = await this.seal.open<CellsPrincipal>(principal);
    if (!p) return undefined;
    // Checked before any work starts, with a margin, so no request fails half-way for an expired token.
    if (p.exp !== undefined && p.exp - this.opts.marginSec * 1000 <= Date.now()) throw new GatewayError('unauthorized', CELLS_TOKEN_EXPIRED);
    return this.account(p, principal);
  }

  /** S3 refuses a Cells token that expired during the request with 403; the client must hear 401, and sign in again. */
  explain(err: GatewayError, account: Account): GatewayError {
    const expired = account.credentialExpiresAt !== undefined && account.credentialExpiresAt <= Date.now();
    return expired && err.kind === 'forbidden' && err.origin === 's3' ? new GatewayError('unauthorized', CELLS_TOKEN_EXPIRED, { cause: err }) : err;
  }

  private credentials(token: string) {
    return { accessKeyId: token, secretAccessKey: this.opts.secret };
  }

  private account(p: CellsPrincipal, principal: string): Account {
    const authId = authIdFor('pydio', this.opts.endpoint, this.opts.bucket, p.who);
    return {
      name: authId,
      principal,
      authId,
      bucket: this.pool.get(this.opts.bucket, this.credentials(p.t)),
      root: '',
      readOnly: false,
      ownCredentials: true,
      ...(p.exp !== undefined ? { credentialExpiresAt: p.exp } : {}),
    };
  }
}
