import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PROVIDERS, type Provider } from '../../storage/s3/profiles.js';
import { normalizeRoot } from '../auth/accounts.js';
import { MAX_NAME_BYTES } from '../ids.js';

/** An S3 server besides the gateway's own, with the operator's keys for it. */
export interface EndpointDefinition {
  name: string;
  url: string;
  region: string;
  provider: Provider;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A folder the operator shares: where it lives, who sees it, and whether they may write. */
export interface MountDefinition {
  /** The folder it appears as, at the root of every account it is granted to. */
  name: string;
  /** An endpoint of the file, or undefined: the gateway's own S3. */
  endpoint: string | undefined;
  bucket: string;
  /** '' (the whole bucket) or ending in '/'. */
  prefix: string;
  readOnly: boolean;
  users: string[];
  groups: string[];
}

export interface MountsFile {
  /** The home of users-file accounts that name no root, as a template (`users/{name}/`); absent: today's rule. */
  home: string | undefined;
  endpoints: Map<string, EndpointDefinition>;
  mounts: MountDefinition[];
}

export class MountsFileError extends Error {}

/** True when a mount name can be one folder name (odrive's and every desktop file system's rules). */
export function mountNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'must be a folder name';
  if (/[/\\\0]/.test(name) || [...name].some((c) => c.charCodeAt(0) < 0x20)) return 'must not contain "/", "\\" or control characters';
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `must be at most ${MAX_NAME_BYTES} bytes long`;
  return undefined;
}

const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]$/, 'must be a valid S3 bucket name (2-63 of a-z 0-9 . -)');
const word = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be a name of letters, digits, _ . - (at most 63)');
const prefix = z
  .string()
  .default('')
  .refine((s) => normalizeRoot(s) !== undefined, 'must be a key prefix without empty, . or .. segments')
  .transform((s) => normalizeRoot(s)!);

const endpointSchema = z.object({
  url: z.string().refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL without user name or password'),
  region: z.string().min(1).default('us-east-1'),
  provider: z.enum(PROVIDERS, `must be one of ${PROVIDERS.join(', ')}`).default('other'),
  accessKeyId: z.string().min(1, 'is required'),
  secretAccessKey: z.string().min(1, 'is required'),
});

const names = z.array(z.string().min(1).max(256)).max(10_000).default([]);

const mountSchema = z.object({
  name: z.string().superRefine((s, ctx) => {
    const problem = mountNameProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  endpoint: word.optional(),
  bucket: bucketName.optional(),
  prefix,
  readOnly: z.boolean().default(false),
  users: names,
  groups: names,
});

const fileSchema = z
  .object({
    home: z
      .string()
      .refine((s) => s.includes('{name}') && normalizeRoot(s.replaceAll('{name}', 'x')) !== undefined, 'must be a key prefix template holding {name}')
      .optional(),
    endpoints: z.record(word, endpointSchema).default({}),
    mounts: z.array(mountSchema).max(1000).default([]),
  })
  .strict();

/**
 * Reads the operator's MOUNTS_FILE (YAML). `defaultBucket` is where mounts that name no bucket live.
 * Every problem is one line naming the file and the place in it.
 */
export async function loadMountsFile(file: string, defaultBucket: string): Promise<MountsFile> {
  const fail = (what: string) => new MountsFileError(`MOUNTS_FILE ${file}: ${what}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw fail(`is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  const parsed = fileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(`${issue.path.length ? issue.path.join('.') : 'top level'} ${issue.message}`);
  }
  const endpoints = new Map(Object.entries(parsed.data.endpoints).map(([name, e]) => [name, { name, ...e }]));
  const seen = new Set<string>();
  const mounts = parsed.data.mounts.map((m, i): MountDefinition => {
    // Names are compared as a case-insensitive file system would: two that differ only in case would clash on the client.
    const folded = m.name.normalize('NFC').toLowerCase();
    if (seen.has(folded)) throw fail(`mounts.${i}.name "${m.name}" is used twice`);
    seen.add(folded);
    if (m.endpoint !== undefined && !endpoints.has(m.endpoint)) throw fail(`mounts.${i}.endpoint "${m.endpoint}" is not one of endpoints`);
    return { name: m.name, endpoint: m.endpoint, bucket: m.bucket ?? defaultBucket, prefix: m.prefix, readOnly: m.readOnly, users: m.users, groups: m.groups };
  });
  return { home: parsed.data.home, endpoints, mounts };
}
