import { GatewayError, invalid, type Field } from '../../errors.js';
import type { Account } from './accounts.js';
import type { SessionService, TokenPair } from './sessions.js';

/** Where a person signs in at the provider (oauth), and the state the client collects the sign-in with. */
export interface OAuthStart {
  url: string;
  state: string;
}

/** What the browser's visit to the oauth callback came to, for the page it is shown. */
export type CallbackOutcome = { ok: true; who?: string | undefined } | { ok: false; status: 400 | 403 | 503; message: string };

export interface FormField {
  name: string;
  prompt: string;
  required: boolean;
  order: number;
}

/**
 * One way of signing in (AUTH_MODE): what the form asks, how answers become an account, and how a
 * session's principal becomes that account again on each request.
 */
export interface SignInMethod {
  readonly form: FormField[];
  /** Checks the answers (throttled by the method); throws `forbidden` for a wrong credential. */
  verify(fields: Record<string, string>, clientAddress: string): Promise<Account>;
  /** The account a session stands for; undefined when it is gone. Throws `unauthorized` when it can no longer act. */
  resolve(principal: string): Promise<Account | undefined>;
  /**
   * What a failure means for one of this method's accounts, where it means more than it says (a Cells
   * token that expired mid-request makes S3 say 403, which means "sign in again"). Absent: as it says.
   */
  explain?(err: GatewayError, account: Account): GatewayError;

  /** oauth sign-in (the form is then empty): makes a single-use state and the provider's URL for it. */
  begin?(clientAddress: string): Promise<OAuthStart>;
  /** oauth: the browser came back from the provider with this query. */
  callback?(query: URLSearchParams): Promise<CallbackOutcome>;
  /** oauth: the client collects its sign-in with the state (`fields` is the request body). */
  complete?(fields: Record<string, unknown>): Promise<Account>;
  /** At each refresh: the principal renewed with whoever vouches for it; throws `forbidden` when they no longer do. */
  renew?(principal: string): Promise<string>;
  /** The session was signed out (best effort: tells whoever vouched for it). */
  signedOut?(principal: string): Promise<void>;
}

const MAX_FIELD_LENGTH = 8192;

/** A sign-in form field as errors name it; every dialect sends it under the name the form publishes. */
export const formField = (name: string): Field => `form.${name}`;

/** The form's answers as strings: 400 naming a required field that is missing or one that is not a string. */
function readForm(form: FormField[], fields: Record<string, unknown>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of form) {
    const v = fields[f.name];
    const field = formField(f.name);
    if (v === undefined || v === null || v === '') {
      if (f.required) throw invalid(field, 'is required');
      continue;
    }
    if (typeof v !== 'string') throw invalid(field, 'must be a string');
    if (v.length > MAX_FIELD_LENGTH) throw invalid(field, `must be at most ${MAX_FIELD_LENGTH} characters`);
    values[f.name] = v;
  }
  return values;
}

/** Sign-in whatever the method: read the form, let the method check it, start a session. */
export class SignInService {
  constructor(
    private readonly method: SignInMethod,
    private readonly sessions: SessionService,
  ) {}

  get form(): FormField[] {
    return this.method.form;
  }

  /** `oauth` when people sign in at an identity provider (see begin), else `form`. */
  get kind(): 'form' | 'oauth' {
    return this.method.begin ? 'oauth' : 'form';
  }

  begin(clientAddress: string): Promise<OAuthStart> {
    if (!this.method.begin) throw new GatewayError('not_found', 'This gateway signs in with a form, not through an identity provider.');
    return this.method.begin(clientAddress);
  }

  callback(query: URLSearchParams): Promise<CallbackOutcome> {
    if (!this.method.callback) throw new GatewayError('not_found', 'This gateway signs in with a form, not through an identity provider.');
    return this.method.callback(query);
  }

  /** A failure as the client should hear it, given whose request it was (see SignInMethod.explain). */
  explain(err: GatewayError, account: Account | undefined): GatewayError {
    return account && this.method.explain ? this.method.explain(err, account) : err;
  }

  async signIn(fields: Record<string, unknown>, clientAddress: string): Promise<{ tokens: TokenPair; account: Account }> {
    const account = this.method.complete ? await this.method.complete(fields) : await this.method.verify(readForm(this.method.form, fields), clientAddress);
    return { tokens: await this.sessions.start(account), account };
  }
}
