import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hashPassword, verifyPassword } from '../../src/core/auth/passwords.js';
import { openUpload } from '../support/api.js';
import { repoRoot as root, runGateway, waitFor } from '../support/processes.js';
import { describeWithRedis, testRedisUrl } from '../support/targets.js';

const run = promisify(execFile);

// These run the built gateway (`npm test` builds first), as `npm start` does.
const startGateway = (env: Record<string, string>) => runGateway(env);

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'gw-proc-'));
});
afterEach(() => rm(dataDir, { recursive: true, force: true }));

describe('the gateway process', () => {
  it('starts on the embedded default, prints a curl line that signs in, and stops cleanly on SIGTERM', async () => {
    const gw = startGateway({ DATA_DIR: dataDir });
    try {
      await waitFor(() => gw.stdout().includes('Try:'), 'the start-up banner');
      const banner = gw.stdout();
      expect(banner).toMatch(/sessions end with the process/);
      expect(banner).toMatch(/Demo user: demo, password \S+ \(generated/);
      const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1]!;
      const curlLine = /Try:\s+(curl .*)$/m.exec(banner)![1]!;
      // The line, as printed, is what a person pastes into a shell.
      const hasCurl = spawnSync('curl', ['--version']).status === 0;
      const response = hasCurl
        ? (await run('bash', ['-c', curlLine])).stdout
        : await (await fetch(`${url}/v2/gateway_auth`, { method: 'POST', body: /-d '(.*)'$/.exec(curlLine)![1] })).text();
      const body = JSON.parse(response);
      expect(body['gateway.auth.access.token']).toMatch(/^gwa_[A-Za-z0-9_-]{43}$/);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      gw.child.kill('SIGTERM');
      expect(await gw.exited).toBe(0);
      // the generated demo password is shown in the banner only, never in a JSON log line
      const password = /password (\S+) \(generated/.exec(banner)![1]!;
      for (const line of banner.split('\n').filter((l) => l.startsWith('{'))) expect(line).not.toContain(password);
    } finally {
      gw.child.kill('SIGKILL');
    }
  });

  it('starts in the oidc mode while the identity provider is down: says how people sign in, and answers 503 until it is up', async () => {
    const gw = startGateway({
      DATA_DIR: dataDir,
      AUTH_MODE: 'oidc',
      // Nothing listens on the discard port: the provider is down.
      OIDC_ISSUER: 'http://127.0.0.1:9',
      OIDC_CLIENT_ID: 'gateway',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_REDIRECT_URL: 'https://gateway.example.com/oauth/callback',
    });
    try {
      await waitFor(() => gw.stdout().includes('Sign-in:'), 'the start-up banner');
      expect(gw.stdout()).toMatch(
        /Sign-in: +oauth through http:\/\/127\.0\.0\.1:9, the browser coming back to https:\/\/gateway\.example\.com\/oauth\/callback/,
      );
      const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(gw.stdout())![1]!;
      const res = await fetch(`${url}/v2/gateway_auth_method`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { message: string }).message).toMatch(/identity provider does not answer/);
      expect(gw.stdout()).not.toContain('oidc-client-secret-value');
    } finally {
      gw.child.kill('SIGKILL');
    }
  });

  it('lets an in-flight request finish after SIGTERM', async () => {
    const gw = startGateway({ DATA_DIR: dataDir, DEMO_PASSWORD: 'patient-password', SHUTDOWN_GRACE_MS: '30000', METRICS_ENABLED: 'true' });
    try {
      await waitFor(() => gw.stdout().includes('Try:'), 'the start-up banner');
      const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(gw.stdout())![1]!;
      const signIn = await fetch(`${url}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: 'patient-password' }) });
      const token = ((await signIn.json()) as Record<string, string>)['gateway.auth.access.token']!;
      const body = randomBytes(256 * 1024);
      const req = openUpload(url, token, 'root', 'in-flight.bin', body.length);
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        });
        req.on('error', reject);
      });
      // Half the body is sent, and the gateway is handling the upload, before the signal.
      req.write(body.subarray(0, body.length / 2));
      await waitFor(async () => /^gateway_active_uploads 1$/m.test(await (await fetch(`${url}/metrics`)).text()), 'the upload to be in flight');
      gw.child.kill('SIGTERM');
      await waitFor(() => gw.stdout().includes('"message":"stopping"'), 'the gateway to start stopping');
      await expect(fetch(`${url}/healthz`)).rejects.toThrow(); // it takes no new connection meanwhile
      // The rest of the body, after the signal: the upload completes, whole.
      req.end(body.subarray(body.length / 2));
      const res = await answer;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toMatchObject({
        'gateway.metadata.name': 'in-flight.bin',
        'gateway.metadata.file.size': body.length,
        'gateway.metadata.file.hash': createHash('sha256').update(body).digest('hex'),
      });
      expect(await gw.exited).toBe(0);
    } finally {
      gw.child.kill('SIGKILL');
    }
  });

  it('never prints a DEMO_PASSWORD the operator chose', async () => {
    const gw = startGateway({ DATA_DIR: dataDir, DEMO_PASSWORD: 'operator-chosen-secret' });
    try {
      await waitFor(() => gw.stdout().includes('Try:'), 'the start-up banner');
      expect(gw.stdout()).toContain('password from DEMO_PASSWORD');
      expect(gw.stdout()).toContain('$DEMO_PASSWORD');
      expect(gw.stdout() + gw.stderr()).not.toContain('operator-chosen-secret');
    } finally {
      gw.child.kill('SIGKILL');
    }
  });

  it('stops at once with one line naming a bad variable', async () => {
    const gw = startGateway({ DATA_DIR: dataDir, PORT: 'http' });
    expect(await gw.exited).toBe(2);
    expect(
      gw
        .stderr()
        .trim()
        .split('\n')
        .filter((l) => !/Warning|^\s|^\(|^$/.test(l)),
    ).toEqual(['Invalid configuration: PORT must be a whole number (got "http")']);
  });

  it('stops with one line when the users file is wrong', async () => {
    const file = path.join(dataDir, 'users.yaml');
    await writeFile(file, 'users:\n  - name: a\n    passwordHash: plain\n');
    const gw = startGateway({ DATA_DIR: dataDir, USERS_FILE: file });
    expect(await gw.exited).toBe(1);
    expect(gw.stderr()).toMatch(/^Cannot start: USERS_FILE .*users\.0\.passwordHash must be a hash printed by `npm run hash-password`$/m);
  });

  it('stops with one line when the mounts file is wrong', async () => {
    const file = path.join(dataDir, 'mounts.yaml');
    await writeFile(file, 'mounts:\n  - name: Team\n    endpoint: archive\n');
    const gw = startGateway({ DATA_DIR: dataDir, MOUNTS_FILE: file });
    expect(await gw.exited).toBe(1);
    expect(gw.stderr()).toMatch(/^Cannot start: MOUNTS_FILE .*mounts\.0\.endpoint "archive" is not one of endpoints$/m);
  });
});

describe('SIGHUP', () => {
  it('re-reads the users file at once: a removed account loses its session', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gw-hup-'));
    try {
      const users = path.join(dir, 'users.json');
      const passwordHash = await hashPassword('alice-password');
      const record = (name: string) => ({ name, passwordHash, root: `${name}/` });
      await writeFile(users, JSON.stringify({ users: [record('alice'), record('bob')] }));
      const gw = startGateway({ DATA_DIR: dir, USERS_FILE: users, USERS_FILE_CHECK_INTERVAL: '3600' });
      try {
        const url = await gw.url();
        const signIn = await fetch(`${url}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'alice', password: 'alice-password' }) });
        const token = ((await signIn.json()) as Record<string, string>)['gateway.auth.access.token']!;
        const status = async () => (await fetch(`${url}/v2/gateway_metadata/root`, { headers: { Authorization: `Bearer ${token}` } })).status;
        expect(await status()).toBe(200);
        await writeFile(users, JSON.stringify({ users: [record('bob')] }));
        gw.child.kill('SIGHUP');
        await waitFor(async () => (await status()) === 401, 'the session to end');
        expect(gw.child.exitCode).toBeNull();
      } finally {
        await gw.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run hash-password', () => {
  const hashWith = async (input: string) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/cli/hash-password.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stderr.on('data', (d) => (err += d.toString()));
    child.stdin.end(input);
    const code = await new Promise((r) => child.on('exit', r));
    return { code, out, err };
  };

  it('prints a hash that verifies the password read from standard input', async () => {
    const r = await hashWith('a long enough password\n');
    expect(r.code).toBe(0);
    expect(await verifyPassword('a long enough password', r.out.trim())).toBe(true);
  });

  it('refuses a short password', async () => {
    const r = await hashWith('short\n');
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/at least 8 characters/);
  });
});

describeWithRedis('the gateway process with Redis and a users file', () => {
  it('keeps sessions in Redis across a restart', async () => {
    const users = path.join(dataDir, 'users.json');
    const child = spawn(process.execPath, [path.join(root, 'dist/cli/hash-password.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let printed = '';
    child.stdout.on('data', (d) => (printed += d.toString()));
    child.stdin.end('alice-password\n');
    await new Promise((r) => child.on('exit', r));
    expect(await verifyPassword('alice-password', printed.trim())).toBe(true);
    await writeFile(users, JSON.stringify({ users: [{ name: 'alice', passwordHash: printed.trim(), root: 'alice/' }] }));

    const env = { DATA_DIR: dataDir, USERS_FILE: users, REDIS_URL: testRedisUrl!, REDIS_KEY_PREFIX: `proc-${process.pid}:` };
    const first = startGateway(env);
    let token: string;
    try {
      await waitFor(() => /ready at/.test(first.stdout()), 'the first gateway');
      expect(first.stdout()).toMatch(/Sessions:\s+Redis/);
      expect(first.stdout()).not.toMatch(/Demo user/);
      const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(first.stdout())![1]!;
      const res = await fetch(`${url}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'alice', password: 'alice-password' }) });
      expect(res.status).toBe(200);
      token = ((await res.json()) as Record<string, string>)['gateway.auth.refresh.token']!;
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
    const second = startGateway(env);
    try {
      await waitFor(() => /ready at/.test(second.stdout()), 'the second gateway');
      const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(second.stdout())![1]!;
      const res = await fetch(`${url}/v2/gateway_auth_access`, { method: 'POST', body: JSON.stringify({ 'gateway.auth.refresh.token': token }) });
      expect(res.status).toBe(200);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
