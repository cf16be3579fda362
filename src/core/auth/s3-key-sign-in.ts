import type { BucketCredentials, BucketsByCredentials } from '../../storage/bucket-store.js';
import { fieldError, GatewayError } from '../../errors.js';
import { authIdFor, type Account } from './accounts.js';
import type { CredentialSeal } from './credential-seal.js';
import { formField, type FormField, type SignInMethod } from './sign-in.js';
import type { SignInAttempt, SignInThrottle } from './throttle.js';

/** What a session of this mode keeps, sealed: the bucket and the person's key pair. */
interface S3Principal {
  b: string;
  k: string;
  s: string;
}

const INVALID = 'Invalid credential: S3 refused this access key and secret for the bucket.';

/**
 * AUTH_MODE=s3: each person signs in with their own S3 access key and secret, on the endpoint and
 * buckets the operator configured; the gateway acts on S3 with exactly their rights.
 */
export class S3KeySignIn implements SignInMethod {
  readonly form: FormField[];

  constructor(
    private readonly pool: BucketsByCredentials,
    private readonly seal: CredentialSeal,
    private readonly throttle: SignInThrottle,
    private readonly opts: { endpoint: string; bucket: string; buckets: string[] | undefined },
  ) {
    this.form = [
      { name: 'access_key_id', prompt: 'S3 access key', required: true, order: 1 },
      { name: 'secret_access_key', prompt: 'S3 secret key', required: true, order: 2 },
      ...(opts.buckets ? [{ name: 'bucket', prompt: `Bucket (${opts.buckets.join(', ')})`, required: false, order: 3 }] : []),
    ];
  }

  async verify(fields: Record<string, string>, clientAddress: string): Promise<Account> {
    const bucket = fields.bucket ?? this.opts.bucket;
    if (!(this.opts.buckets ?? [this.opts.bucket]).includes(bucket)) {
      throw fieldError('forbidden', { field: formField('bucket'), problem: 'is not one of the buckets this gateway serves.' });
    }
    const credentials = { accessKeyId: fields.access_key_id!, secretAccessKey: fields.secret_access_key! };
    // Access key ids are not secret: failures count per key and address, so nobody can lock a colleague out.
    const attempt = await this.throttle.admit(credentials.accessKeyId, clientAddress, 'account-at-address');
    await checkCredentials(this.pool, bucket, credentials, attempt, INVALID);
    const p: S3Principal = { b: bucket, k: credentials.accessKeyId, s: credentials.secretAccessKey };
    return this.account(p, await this.seal.seal(p));
  }

  async resolve(principal: string): Promise<Account | undefined> {
    const p = await this.seal.open<S3Principal>(principal);
    return p ? this.account(p, principal) : undefined;
  }

  private account(p: S3Principal, principal: string): Account {
    const authId = authIdFor('s3', this.opts.endpoint, p.b, p.k);
    return {
      name: authId,
      principal,
      authId,
      bucket: this.pool.get(p.b, { accessKeyId: p.k, secretAccessKey: p.s }),
      root: '',
      readOnly: false,
      ownCredentials: true,
    };
  }
}

/**
 * One cheap S3 call with the credentials: a refusal is a wrong credential (403, counted against the
 * key), S3 being down is 503 and counts nothing.
 */
export async function checkCredentials(
  pool: BucketsByCredentials,
  bucket: string,
  credentials: BucketCredentials,
  attempt: SignInAttempt,
  refusal: string,
): Promise<void> {
  try {
    await pool.get(bucket, credentials).probe();
  } catch (err) {
    pool.forget(bucket, credentials);
    if (err instanceof GatewayError && err.kind === 'forbidden') throw new GatewayError('forbidden', refusal, { cause: err, logDetails: err.logDetails });
    await attempt.giveBack();
    throw err;
  }
  await attempt.giveBack();
}
