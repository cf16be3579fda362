import { invalid, type Field, type GatewayError } from '../../errors.js';
import type { Account } from './accounts.js';
import type { SessionService, TokenPair } from './sessions.js';

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

  /** A failure as the client should hear it, given whose request it was (see SignInMethod.explain). */
  explain(err: GatewayError, account: Account | undefined): GatewayError {
    return account && this.method.explain ? this.method.explain(err, account) : err;
  }

  async signIn(fields: Record<string, unknown>, clientAddress: string): Promise<{ tokens: TokenPair; account: Account }> {
    const account = await this.method.verify(readForm(this.method.form, fields), clientAddress);
    return { tokens: await this.sessions.start(account), account };
  }
}
