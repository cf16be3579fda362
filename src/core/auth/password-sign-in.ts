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
  ) {}

  static async create(accounts: AccountDirectory, throttle: SignInThrottle): Promise<PasswordSignIn> {
    return new PasswordSignIn(accounts, throttle, await hashPassword(randomBytes(16).toString('hex')));
  }

  async verify(fields: Record<string, string>, clientAddress: string): Promise<Account> {
    const name = fields.user!;
    await this.throttle.admit(name, clientAddress);
    const account = this.accounts.find(name);
    const ok = await this.checks(() => verifyPassword(fields.password!, this.accounts.passwordHashOf(name) ?? this.decoyHash));
    if (!account || !ok) {
      await this.throttle.failed(name);
      throw new GatewayError('forbidden', 'Invalid credential: the user name or password is wrong.');
    }
    await this.throttle.succeeded(name);
    return account;
  }

  resolve(principal: string): Promise<Account | undefined> {
    return this.accounts.resolve(principal);
  }
}
