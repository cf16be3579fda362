import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { EMBEDDED_CREDENTIALS } from '../../src/storage/s3/embedded.js';
import { openAuditLog, recordSecretsOf } from './log-audit.js';
import { realS3 } from './targets.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A child process whose output is kept, for the tests that run the built gateway (`dist/main.js`). */
export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** The URL the gateway printed once ready. */
  url: () => Promise<string>;
  stop(): Promise<void>;
}

/** Polls `check` (every 50 ms) until it holds; fails naming `what` after `ms`. Synchronisation without sleeping. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `node dist/main.js` with exactly this environment (plus PATH), as a container or `npm start` runs it;
 * from `root` (a production install, see productionInstall) or from the repository.
 */
export function runGateway(env: Record<string, string>, nodeFlags: string[] = [], root = repoRoot): Running {
  const child = spawn(process.execPath, [...nodeFlags, path.join(root, 'dist/main.js')], {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  recordSecretsOf(env);
  const audit = openAuditLog('process');
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d.toString();
    audit.write(d.toString());
  });
  child.stderr.on('data', (d) => {
    err += d.toString();
    audit.write(d.toString());
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.on('close', () => audit.close());
  const ready = /ready at (http:\/\/\S+)/;
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    url: async () => {
      await waitFor(() => ready.test(out) || child.exitCode !== null, 'the gateway to start');
      const m = ready.exec(out);
      if (!m) throw new Error(`the gateway exited: ${err}`);
      return m[1]!;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      // (a grace timer left pending would hold the test process open for its full 10 s)
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]).finally(() => clearTimeout(timer));
      child.kill('SIGKILL');
    },
  };
}

/**
 * An S3 in a process of its own, for a gateway process to reach over the network: the real S3 of the
 * RGW run, else the embedded server started on its own. The bucket exists.
 */
export async function externalS3(
  bucket: string,
  opts: { realS3?: boolean } = {},
): Promise<{ env: Record<string, string>; client: S3Client; bucket: string; stop(): Promise<void> }> {
  if (realS3 && opts.realS3 !== false) {
    const credentials = { accessKeyId: realS3.accessKeyId, secretAccessKey: realS3.secretAccessKey };
    const env = {
      S3_ENDPOINT: realS3.endpoint,
      S3_ACCESS_KEY_ID: credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      S3_BUCKET: realS3.bucket,
      S3_PROVIDER: realS3.provider,
    };
    const client = new S3Client({ endpoint: realS3.endpoint, region: realS3.region, forcePathStyle: true, credentials });
    return { env, client, bucket: realS3.bucket, stop: async () => client.destroy() };
  }
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/embedded-s3.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`S3 process exited with ${code}`)));
  });
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: EMBEDDED_CREDENTIALS });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    env: {
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: EMBEDDED_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: EMBEDDED_CREDENTIALS.secretAccessKey,
      S3_BUCKET: bucket,
    },
    client,
    bucket,
    async stop() {
      client.destroy();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * What `npm ci --omit=dev` makes (the container image): the built dist/, package.json, and a node_modules
 * holding only the packages the lockfile does not mark as dev-only (linked from the repository's). The
 * gateway's own imports resolve there, so one of a dev dependency fails as it would in the image.
 */
export async function productionInstall(): Promise<{ root: string; remove(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'gateway-prod-'));
  await cp(path.join(repoRoot, 'dist'), path.join(root, 'dist'), { recursive: true });
  await cp(path.join(repoRoot, 'package.json'), path.join(root, 'package.json'));
  const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [where, pkg] of Object.entries(lock.packages)) {
    // top-level packages only: nested ones come along inside their parent
    if (!/^node_modules\/(@[^/]+\/)?[^/]+$/.test(where) || pkg.dev) continue;
    await mkdir(path.dirname(path.join(root, where)), { recursive: true });
    await symlink(path.join(repoRoot, where), path.join(root, where), 'junction');
  }
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}
