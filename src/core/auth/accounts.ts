import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { BucketStore } from '../../storage/bucket-store.js';
import { parsePasswordHash } from './passwords.js';

/** Who a request acts for, and the part of S3 that is theirs. */
export interface Account {
  /** For logs and for owning uploads: a user name, or the auth id when people sign in with S3 keys. */
  name: string;
  /** What a session keeps to find this account again (a user name, or sealed S3 credentials). */
  principal: string;
  /** The bucket, reached with the credentials this account acts with. */
  bucket: BucketStore;
  /** Key prefix in the bucket that is this account's whole world: '' (the bucket) or ending in '/'. */
  root: string;
  readOnly: boolean;
  /** What a refused write says when the place, not the account, is read-only (a read-only mount). */
  readOnlyReason?: string;
  /** Groups the identity provider says the person is in (oidc), for the mounts granted to groups. */
  groups?: string[];
  /** False when the account has no home of its own: its root lists only its mounts. */
  hasHome?: boolean;
  /** The same for every sign-in of this account, revealing nothing (clients receive it as their auth id). */
  authId: string;
  /** Epoch ms after which S3 refuses this account's credential (a Cells token); absent: it does not expire. */
  credentialExpiresAt?: number;
  /** Changes whenever the operator changes the account (password, root, rights): its sessions then end. */
  version?: string;
  /**
   * The principal holds the person's own S3 credential (their key pair, a Cells token): what outlives a
   * request keeps it only while the session that signed in with it lives.
   */
  ownCredentials?: boolean;
}

/** An account of the users file. */
export interface UserRecord {
  name: string;
  root: string;
  /** False (`home: false` in the file): the account sees only its mounts. */
  hasHome: boolean;
  readOnly: boolean;
  passwordHash: string;
  authId: string;
  version: string;
}

/** Normalises an operator-given root prefix; undefined when it is not a clean relative key prefix. */
export function normalizeRoot(raw: string): string | undefined {
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\0'))) return undefined;
  return `${trimmed}/`;
}

export function authIdFor(mode: string, ...parts: string[]): string {
  return createHash('sha256')
    .update([mode, ...parts].join('\0'))
    .digest('base64url')
    .slice(0, 32);
}

const userSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(128)
    .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20), 'must not contain control characters'),
  passwordHash: z.string().refine((s) => parsePasswordHash(s) !== undefined, 'must be a hash printed by `npm run hash-password`'),
  root: z
    .string()
    .refine((s) => normalizeRoot(s) !== undefined, 'must be a key prefix without empty, . or .. segments')
    .optional(),
  home: z.boolean().default(true),
  readOnly: z.boolean().default(false),
});

const usersFileSchema = z.union([z.object({ users: z.array(userSchema) }), z.array(userSchema).transform((users) => ({ users }))]);

export class AccountsFileError extends Error {}

export function userRecord(u: { name: string; passwordHash: string; root: string; readOnly: boolean; home?: boolean }): UserRecord {
  const root = normalizeRoot(u.root)!;
  const hasHome = u.home !== false;
  return {
    name: u.name,
    passwordHash: u.passwordHash,
    root,
    hasHome,
    readOnly: u.readOnly,
    authId: authIdFor('users', u.name),
    // (An account with a home keeps the version it had before homes could be turned off.)
    version: authIdFor('users-version', u.name, u.passwordHash, root, String(u.readOnly), ...(hasHome ? [] : ['no-home'])),
  };
}

/** The root of a user who names none: MOUNTS_FILE's home template with the user's name, else the whole bucket. */
function rootOf(name: string, root: string | undefined, homeTemplate: string | undefined): string | undefined {
  if (root !== undefined) return root;
  if (homeTemplate === undefined) return '';
  if (name === '.' || name === '..' || /[/\\\0]/.test(name)) return undefined;
  return homeTemplate.replaceAll('{name}', name);
}

/**
 * Reads the operator's users file (YAML or JSON: YAML parses both). `homeTemplate` (MOUNTS_FILE's `home`)
 * places the users who name no root.
 */
export async function loadAccountsFile(file: string, homeTemplate?: string): Promise<UserRecord[]> {
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
  const accounts = parsed.data.users.map((u) => {
    const root = rootOf(u.name, u.root, homeTemplate);
    if (root === undefined)
      throw new AccountsFileError(`USERS_FILE ${file}: user "${u.name}" names no root, and the name cannot be one folder of MOUNTS_FILE's home`);
    return userRecord({ ...u, root });
  });
  const seen = new Set<string>();
  for (const a of accounts) {
    if (seen.has(a.name)) throw new AccountsFileError(`USERS_FILE ${file}: user "${a.name}" is listed twice`);
    seen.add(a.name);
  }
  if (accounts.length === 0) throw new AccountsFileError(`USERS_FILE ${file} lists no users`);
  return accounts;
}

/**
 * The accounts of the users file, all on the operator's bucket; a session's principal is the user name.
 * `replace` swaps in a re-read file: an account changed in it has a new version, which ends its sessions.
 */
export class AccountDirectory {
  private byName: Map<string, { record: UserRecord; account: Account }>;

  constructor(
    records: UserRecord[],
    private readonly bucket: BucketStore,
  ) {
    this.byName = this.index(records);
  }

  replace(records: UserRecord[]): void {
    this.byName = this.index(records);
  }

  private index(records: UserRecord[]) {
    return new Map(records.map(({ passwordHash: _, ...r }, i) => [r.name, { record: records[i]!, account: { ...r, principal: r.name, bucket: this.bucket } }]));
  }

  find(name: string): Account | undefined {
    return this.byName.get(name)?.account;
  }

  passwordHashOf(name: string): string | undefined {
    return this.byName.get(name)?.record.passwordHash;
  }

  async resolve(principal: string): Promise<Account | undefined> {
    return this.find(principal);
  }

  get size(): number {
    return this.byName.size;
  }
}
