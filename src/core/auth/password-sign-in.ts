import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { GatewayError } from '../../errors.js';
import type { Account, AccountDirectory } from './accounts.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { FormField, SignInMethod } from './sign-in.js';
import type { SignInThrottle } from './throttle.js';

/** AUTH_MODE=users: accounts of the users file, throttled, constant-time, no hint whether a name exists. */
export class PasswordSignIn implements SignInMethod {
  readonly form: FormField[] = [
    { name: 'user', prompt: 'User name', required: true, order: 1 },
    { name: 'password', prompt: 'Password', required: true, order: 2 },
  ];
  // Each check takes 32 MiB for a moment: a burst of sign-ins must not take the memory of transfers.
  private readonly checks = pLimit(2);

  private constructor(
    private readonly accounts: AccountDirectory,
    private readonly throttle: SignInThrottle,
    // Checked for unknown names so that a miss costs as much time as a wrong password.
    private readonly decoyHash: string,
    /** Checks that may wait for their turn; beyond them a burst is refused instead of delaying everyone. */
    private readonly maxWaiting: number,
  ) {}

  static async create(accounts: AccountDirectory, throttle: SignInThrottle, maxWaiting: number): Promise<PasswordSignIn> {
    return new PasswordSignIn(accounts, throttle, await hashPassword(randomBytes(16).toString('hex')), maxWaiting);
  }

  async verify(fields: Record<string, string>, clientAddress: string): Promise<Account> {
    const name = fields.user!;
    const attempt = await this.throttle.admit(name, clientAddress);
    if (this.checks.pendingCount >= this.maxWaiting) {
      await attempt.giveBack();
      throw new GatewayError('rate_limited', 'Too many sign-ins at once; try again in 1 s.', { retryAfterSec: 1 });
    }
    const account = this.accounts.find(name);
    const ok = await this.checks(() => verifyPassword(fields.password!, this.accounts.passwordHashOf(name) ?? this.decoyHash));
    if (!account || !ok) throw new GatewayError('forbidden', 'Invalid credential: the user name or password is wrong.');
    await attempt.giveBack();
    return account;
  }

  resolve(principal: string): Promise<Account | undefined> {
    return this.accounts.resolve(principal);
  }
}
