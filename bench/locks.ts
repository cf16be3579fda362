/**
 * The cost of the write ordering (src/core/namespace-locks.ts) per write: taking and releasing the locks
 * of one upload (`team/docs/file-N`: the name, and its two folders shared), one writer at a time and 64
 * at once on distinct names of one folder, beside a bare Redis round trip (the least any shared lock can
 * cost) and the in-process store. On Redis at REDIS_URL, else on a redis-server of its own on loopback.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { NamespaceLocks } from '../src/core/namespace-locks.js';
import { MemorySessionStore } from '../src/storage/session-store/memory.js';
import { RedisSessionStore } from '../src/storage/session-store/redis.js';
import type { SessionStore } from '../src/storage/session-store/types.js';

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

export async function ownRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined;
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  child.stdout.resume();
  return { url: `redis://127.0.0.1:${port}`, stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))) };
}

/** Milliseconds of each of `count` lock-and-release cycles, `writers` at once, each writer on its own names. */
async function cycles(locks: NamespaceLocks, writers: number, count: number): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (next < count) {
        const n = next++;
        const t = process.hrtime.bigint();
        await locks.run('bench', [`team/docs/file-${w}-${n}`], async () => undefined);
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  return times;
}

async function measure(store: SessionStore): Promise<{ one: number[]; many: number[]; perSecond: number }> {
  const locks = new NamespaceLocks(store, { waitMs: 10_000, leaseMs: 30_000 });
  await cycles(locks, 8, 500); // warm: scripts loaded, connections up, code compiled
  const one = await cycles(locks, 1, 3000);
  const started = process.hrtime.bigint();
  const many = await cycles(locks, 64, 20_000);
  return { one, many, perSecond: many.length / (Number(process.hrtime.bigint() - started) / 1e9) };
}

export async function benchLocks(redisUrl: string | undefined): Promise<string> {
  const own = redisUrl ? undefined : await ownRedis();
  const url = redisUrl ?? own?.url;
  const lines: string[] = [];
  try {
    const memory = new MemorySessionStore();
    const m = await measure(memory);
    await memory.close();
    if (url) {
      const redis = new RedisSessionStore({ url, keyPrefix: `bench-locks-${Date.now()}:`, commandTimeoutMs: 5000 });
      await redis.connect();
      const ping: number[] = [];
      for (let i = 0; i < 3000; i++) {
        const t = process.hrtime.bigint();
        await redis.ping();
        ping.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      const r = await measure(redis);
      await redis.close();
      lines.push(
        `  Redis on loopback${own ? ' (a redis-server of its own)' : ''}: one writer p50 ${fmt(percentile(r.one, 0.5))}, p99 ${fmt(percentile(r.one, 0.99))}` +
          ` (a bare PING: p50 ${fmt(percentile(ping, 0.5))}); 64 writers at once p50 ${fmt(percentile(r.many, 0.5))}, p99 ${fmt(percentile(r.many, 0.99))}, ${r.perSecond.toFixed(0)} writes/s (target: p50 < 1 ms)`,
      );
    } else {
      lines.push('  Redis: not measured (no REDIS_URL and no redis-server on PATH)');
    }
    lines.push(
      `  in-process store: one writer p50 ${fmt(percentile(m.one, 0.5))}, p99 ${fmt(percentile(m.one, 0.99))}; 64 writers at once p50 ${fmt(percentile(m.many, 0.5))}, p99 ${fmt(percentile(m.many, 0.99))}, ${m.perSecond.toFixed(0)} writes/s`,
    );
  } finally {
    await own?.stop();
  }
  return `\nwrite ordering, per write (take and release the locks of one file in a shared folder; before this, writes took none):\n${lines.join('\n')}\n`;
}

// `node .bench-build/bench/locks.js` runs this part alone.
if (process.argv[1]?.endsWith('locks.js')) process.stdout.write(await benchLocks(process.env.REDIS_URL));
