import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { loadConfig, SETTING_NAMES } from '../../src/config.js';
import { externalS3, productionInstall, repoRoot, runGateway } from '../support/processes.js';
import { describeWithRedis, testRedisUrl, uniquePrefix } from '../support/targets.js';

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  entrypoint?: string[];
}
const compose = parse(readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const envOf = (s: Service): Record<string, string> =>
  Array.isArray(s.environment) ? Object.fromEntries(s.environment.map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string])) : { ...(s.environment ?? {}) };
const gatewayEnv = envOf(services.gateway!);

describe('docker-compose.yml', () => {
  it('sets only variables the gateway knows, with values its configuration accepts', () => {
    const known = new Set(SETTING_NAMES);
    expect(Object.keys(gatewayEnv).filter((k) => !known.has(k))).toEqual([]);
    expect(() => loadConfig(gatewayEnv)).not.toThrow();
    expect(loadConfig(gatewayEnv)).toMatchObject({ host: '0.0.0.0', s3: { provider: 'minio' }, redis: { url: 'redis://redis:6379/0' } });
  });

  it('starts the gateway only once MinIO and Redis are healthy and the bucket is made', () => {
    expect(services.gateway!.build).toBeDefined();
    expect(services.gateway!.depends_on).toMatchObject({
      minio: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      'minio-init': { condition: 'service_completed_successfully' },
    });
    expect(services['minio-init']!.depends_on).toMatchObject({ minio: { condition: 'service_healthy' } });
  });

  it('gives every long-running service a health check, and Redis append-only persistence on a volume', () => {
    for (const name of ['minio', 'redis', 'gateway']) expect(services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
    expect(JSON.stringify(services.redis)).toMatch(/--appendonly","yes/);
    expect(services.redis!.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(services.minio!.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
  });

  it('mounts only paths that exist, and runs an init script that is there', () => {
    const binds = Object.values(services).flatMap((s) => (s.volumes ?? []).filter((v) => v.startsWith('.')));
    expect(binds.length).toBeGreaterThan(0);
    for (const bind of binds) expect(existsSync(path.join(repoRoot, bind.split(':')[0]!))).toBe(true);
    const init = services['minio-init']!;
    const mountedAt = init.volumes!.find((v) => v.startsWith('./minio:'))!.split(':')[1]!;
    const script = init.entrypoint!.find((a) => a.startsWith(mountedAt))!;
    expect(existsSync(path.join(repoRoot, 'minio', path.relative(mountedAt, script)))).toBe(true);
  });

  it('gives the gateway the bucket and key pair that minio-init creates', () => {
    const init = envOf(services['minio-init']!);
    expect(gatewayEnv.S3_BUCKET).toBe(init.BUCKET);
    expect(gatewayEnv.S3_ACCESS_KEY_ID).toBe(init.GATEWAY_ACCESS_KEY);
    expect(gatewayEnv.S3_SECRET_ACCESS_KEY).toBe(init.GATEWAY_SECRET_KEY);
    expect(new URL(gatewayEnv.S3_ENDPOINT!).hostname).toBe('minio');
  });
});

describe('the container image', () => {
  const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds with dev dependencies and runs with production ones only, as a non-root user', () => {
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/npm ci\b(?!.*--omit=dev)/);
    expect(stages[0]).toMatch(/npm run build/);
    expect(stages[1]).toMatch(/npm ci --omit=dev/);
    expect(stages[1]).toMatch(/COPY --from=build \/app\/dist/);
    expect(stages[1]).toMatch(/^USER node$/m);
    expect(stages[1]).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    // The image runs the gateway with the same V8 flags as `npm start` (the benchmark measures those).
    const startScript = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const startFlags = [...startScript.matchAll(/ (--[\w-]+=?\S*)/g)].map((m) => m[1]);
    expect(startFlags).toEqual(['--max-semi-space-size=2', '--heap-growing-percent=200']);
    const cmd = /^CMD (\[.*\])$/m.exec(stages[1]!);
    expect(JSON.parse(cmd![1]!)).toEqual(['node', ...startFlags, 'dist/main.js']);
  });

  it('builds and runs on the Node LTS line that CI tests', () => {
    const ciLts = /LTS_NODE_MAJOR=\$\{LTS_NODE_MAJOR:-(\d+)\}/.exec(readFileSync(path.join(repoRoot, '.ci/run'), 'utf8'));
    expect(ciLts).not.toBeNull();
    for (const stage of stages) expect(stage.split('\n')[0]).toMatch(new RegExp(`^node:${ciLts![1]}-[a-z]+-slim AS \\w+$`));
  });

  it('copies only what it builds from, and keeps data, tests and node_modules out of the context', () => {
    const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['node_modules', 'data', 'tests', 'dist', '.env']) expect(ignored).toContain(p);
    for (const [, src] of dockerfile.matchAll(/^COPY (?!--from)(.+) \.\/?\S*$/gm)) {
      for (const p of src!.split(' ')) expect(existsSync(path.join(repoRoot, p))).toBe(true);
    }
  });
});

describe('a production install (npm ci --omit=dev), as in the image', () => {
  it("has none of the embedded S3 server's dependencies, whose advisories have no fix", () => {
    const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    // s3rver > busboy 0.3 > dicer (GHSA-wm7h-9275-46v2, high, no fix); s3rver > fast-xml-parser 3
    for (const name of ['s3rver', 'busboy', 'dicer', 'fast-xml-parser', 'koa']) expect(lock.packages[`node_modules/${name}`]?.dev).toBe(true);
  });

  it('refuses to start without S3_ENDPOINT, in one line that says why', async () => {
    const prod = await productionInstall();
    const gw = runGateway({ DATA_DIR: path.join(prod.root, 'data'), DEMO_PASSWORD: 'prod-install-password' }, [], prod.root);
    try {
      expect(await gw.exited).toBe(1);
      expect(gw.stderr().trim().split('\n')).toEqual([
        'Cannot start: the embedded S3 server (no S3_ENDPOINT) is for trying and development and comes with the development dependencies (npm ci); set S3_ENDPOINT and its keys to use an S3 server',
      ]);
    } finally {
      await prod.remove();
    }
  });
});

describeWithRedis('the built gateway, configured as docker-compose.yml configures it', () => {
  it('serves the seeded demo files from an S3 and a Redis of their own, from production dependencies only', async () => {
    const prod = await productionInstall();
    const s3 = await externalS3('gateway', { realS3: false });
    // what minio-init's `mc mirror` does: every file under minio/seed, keyed by its path
    const seedDir = path.join(repoRoot, 'minio/seed');
    const files = (readdirSync(seedDir, { recursive: true }) as string[]).filter((f) => statSync(path.join(seedDir, f)).isFile());
    for (const f of files) {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: f.split(path.sep).join('/'), Body: readFileSync(path.join(seedDir, f)) }));
    }
    // the compose settings, with only the addresses of this machine's S3 and Redis in place of the containers'
    const gw = runGateway(
      {
        ...gatewayEnv,
        ...s3.env,
        S3_BUCKET: gatewayEnv.S3_BUCKET!,
        REDIS_URL: testRedisUrl!,
        REDIS_KEY_PREFIX: uniquePrefix('compose'),
        HOST: '127.0.0.1',
        PORT: '0',
      },
      [],
      prod.root,
    );
    try {
      const url = await gw.url();
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const signIn = await fetch(`${url}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: gatewayEnv.DEMO_PASSWORD }) });
      expect(signIn.status).toBe(200);
      const token = ((await signIn.json()) as Record<string, string>)['gateway.auth.access.token'];
      const list = await fetch(`${url}/v2/gateway_metadata_children/root`, { headers: { Authorization: `Bearer ${token}` } });
      const names = ((await list.json()) as Array<Record<string, string>>).map((e) => e['gateway.metadata.name']).sort();
      expect(names).toEqual(['Documents', 'Projects', 'Welcome.txt']);
      expect(gw.stdout()).toMatch(/Sessions:\s+Redis/);
    } finally {
      await gw.stop();
      await s3.stop();
      await prod.remove();
    }
  });
});
