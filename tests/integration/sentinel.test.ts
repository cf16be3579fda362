import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import request from 'supertest';
import { findRedisServer, freePort, startRedisServer, type RedisProcess } from '../support/redis-server.mjs';
import { DEMO_PASSWORD, startTestGateway } from '../support/gateway.js';
import { describeWithRedis, uniquePrefix } from '../support/targets.js';

/** A redis-server in sentinel mode watching `master` under the name `mymaster`; resolves once it does. */
async function startSentinel(bin: string, master: RedisProcess, dir: string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const conf = path.join(dir, 'sentinel.conf');
  await writeFile(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\n`);
  const child: ChildProcess = spawn(bin, [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sentinel did not start: ${out}`)), 10_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('+monitor master mymaster')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

describeWithRedis('Redis Sentinel', () => {
  it('finds the master through the sentinels and keeps sessions there', async () => {
    const bin = findRedisServer()!;
    const dir = await mkdtemp(path.join(tmpdir(), 'sentinel-'));
    const master = await startRedisServer(bin);
    const sentinel = await startSentinel(bin, master, dir);
    const prefix = uniquePrefix('sentinel');
    // REDIS_URL's host is never used with sentinels: port 1 would refuse any connection
    const gw = await startTestGateway({
      store: 'memory',
      env: { REDIS_URL: 'redis://127.0.0.1:1/0', REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`, REDIS_KEY_PREFIX: prefix },
    });
    const direct = new Redis(master.url);
    try {
      expect(gw.runtime.store.kind).toBe('redis');
      const res = await request(gw.runtime.app).post('/v2/gateway_auth').send({ user: 'demo', password: DEMO_PASSWORD }).expect(200);
      expect(res.body['gateway.auth.access.token']).toBeDefined();
      expect((await direct.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    } finally {
      direct.disconnect();
      await gw.close();
      await sentinel.stop();
      await master.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
