import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { hashPassword } from '../core/auth/passwords.js';

/**
 * Prints the users-file hash of a password. The password is read from the terminal without echo, or
 * from standard input when piped, never from the command line, where shell history would keep it.
 */
async function readPassword(): Promise<string> {
  const interactive = process.stdin.isTTY === true;
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: interactive });
  if (interactive) {
    process.stderr.write('Password: ');
    muted = true;
  }
  const line = await new Promise<string>((resolve) => {
    let got: string | undefined;
    rl.once('line', (l) => {
      got = l;
      rl.close();
    });
    rl.once('close', () => resolve(got ?? ''));
  });
  if (interactive) process.stderr.write('\n');
  return line;
}

const password = await readPassword();
if (password.length < 8) {
  process.stderr.write('The password must be at least 8 characters.\n');
  process.exit(1);
}
process.stdout.write(`${await hashPassword(password)}\n`);
