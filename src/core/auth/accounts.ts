import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parsePasswordHash } from './passwords.js';

export interface Account {
  name: string;
  /** Key prefix in the bucket that is this account's whole world: '' (the bucket) or ending in '/'. */
  root: string;
  readOnly: boolean;
  passwordHash: string;
  /** `gateway.auth.id`: the same for every sign-in of this account, revealing nothing. */
  authId: string;
}

/** Normalises an operator-given root prefix; undefined when it is not a clean relative key prefix. */
export function normalizeRoot(raw: string): string | undefined {
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\0'))) return undefined;
  return `${trimmed}/`;
}

export function authIdFor(mode: string, name: string): string {
  return createHash('sha256').update(`${mode}\0${name}`).digest('base64url').slice(0, 32);
}

const userSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(128)
    .refine((s) => !/[\u0000-\u001f]/.test(s), 'must not contain control characters'),
  passwordHash: z
    .string()
    .refine((s) => parsePasswordHash(s) !== undefined, 'must be a hash printed by `npm run hash-password`'),
  root: z
    .string()
    .default('')
    .refine((s) => normalizeRoot(s) !== undefined, 'must be a key prefix without empty, . or .. segments'),
  readOnly: z.boolean().default(false),
});

const usersFileSchema = z.union([z.object({ users: z.array(userSchema) }), z.array(userSchema).transform((users) => ({ users }))]);

export class AccountsFileError extends Error {}

export function buildAccount(u: { name: string; passwordHash: string; root: string; readOnly: boolean }): Account {
  return {
    name: u.name,
    passwordHash: u.passwordHash,
    root: normalizeRoot(u.root)!,
    readOnly: u.readOnly,
    authId: authIdFor('users', u.name),
  };
}

/** Reads the operator's users file (YAML or JSON: YAML parses both). */
export async function loadAccountsFile(file: string): Promise<Account[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AccountsFileError(`USERS_FILE ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new AccountsFileError(`USERS_FILE ${file} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = usersFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : 'top level';
    throw new AccountsFileError(`USERS_FILE ${file}: ${where} ${issue.message}`);
  }
  const accounts = parsed.data.users.map(buildAccount);
  const seen = new Set<string>();
  for (const a of accounts) {
    if (seen.has(a.name)) throw new AccountsFileError(`USERS_FILE ${file}: user "${a.name}" is listed twice`);
    seen.add(a.name);
  }
  if (accounts.length === 0) throw new AccountsFileError(`USERS_FILE ${file} lists no users`);
  return accounts;
}

export class AccountDirectory {
  private readonly byName: Map<string, Account>;

  constructor(accounts: Account[]) {
    this.byName = new Map(accounts.map((a) => [a.name, a]));
  }

  find(name: string): Account | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byName.size;
  }
}
