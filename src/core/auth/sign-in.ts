import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { GatewayError, invalid } from '../errors.js';
import type { Account, AccountDirectory } from './accounts.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { SessionService, TokenPair } from './sessions.js';
import type { SignInThrottle } from './throttle.js';

export interface FormField {
  name: string;
  prompt: string;
  required: boolean;
  order: number;
}

/** The form of the `users` sign-in mode. */
export const USERS_FORM: FormField[] = [
  { name: 'user', prompt: 'User name', required: true, order: 1 },
  { name: 'password', prompt: 'Password', required: true, order: 2 },
];

const MAX_FIELD_LENGTH = 1024;

/** Sign-in with the accounts of the users file: throttled, constant-time, no hint whether a name exists. */
export class SignInService {
  readonly form = USERS_FORM;
  // Each check takes 32 MiB for a moment: a burst of sign-ins must not take the memory of transfers.
  private readonly checks = pLimit(2);

  private constructor(
    private readonly accounts: AccountDirectory,
    private readonly sessions: SessionService,
    private readonly throttle: SignInThrottle,
    // Checked for unknown names so that a miss costs as much time as a wrong password.
    private readonly decoyHash: string,
  ) {}

  static async create(accounts: AccountDirectory, sessions: SessionService, throttle: SignInThrottle) {
    return new SignInService(accounts, sessions, throttle, await hashPassword(randomBytes(16).toString('hex')));
  }

  async signIn(fields: Record<string, unknown>, clientAddress: string): Promise<{ tokens: TokenPair; account: Account }> {
    const values: Record<string, string> = {};
    for (const f of this.form) {
      const v = fields[f.name];
      if (v === undefined || v === null || v === '') throw invalid(f.name, 'is required');
      if (typeof v !== 'string') throw invalid(f.name, 'must be a string');
      if (v.length > MAX_FIELD_LENGTH) throw invalid(f.name, `must be at most ${MAX_FIELD_LENGTH} characters`);
      values[f.name] = v;
    }
    const name = values.user!;
    await this.throttle.admit(name, clientAddress);
    const account = this.accounts.find(name);
    const ok = await this.checks(() => verifyPassword(values.password!, account?.passwordHash ?? this.decoyHash));
    if (!account || !ok) {
      await this.throttle.failed(name);
      throw new GatewayError('forbidden', 'Invalid credential: the user name or password is wrong.');
    }
    await this.throttle.succeeded(name);
    return { tokens: await this.sessions.start(account), account };
  }
}
