/**
 * What the gateway keeps in Redis, measured: sessions, open segmented uploads, cached entries and
 * rate-limit counters are made through the API of a gateway on a redis-server of its own, then every key
 * is weighed with MEMORY USAGE (what Redis itself accounts for the key, its value and its expiry).
 * The figures behind the README's sizing (Running in production).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { buildRuntime } from '../src/runtime.js';
import { ownRedis } from './locks.js';

const MiB = 1024 * 1024;
const SESSIONS = 200;
const UPLOADS = 50;
const SEGMENTS_PLANNED = 100;
const LISTED = 1000;

/** Bytes of every key under `prefix`, by what it is (its name up to the first `:` after the prefix). */
async function weigh(redis: Redis, prefix: string): Promise<Map<string, { keys: number; bytes: number }>> {
  const kinds = new Map<string, { keys: number; bytes: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const bytes = Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      const rest = key.slice(prefix.length);
      // upload segments are their own kind: `up:{id}:p:n`
      const kind = /^up:\{[^}]*\}:p:/.test(rest) ? 'up-segment' : rest.includes(':') ? rest.slice(0, rest.indexOf(':')) : rest;
      const k = kinds.get(kind) ?? { keys: 0, bytes: 0 };
      k.keys++;
      k.bytes += bytes;
      kinds.set(kind, k);
    }
  } while (cursor !== '0');
  return kinds;
}

export async function benchFootprint(): Promise<string> {
  const own = await ownRedis();
  if (!own) return '\nsession store footprint: not measured (no redis-server on PATH)\n';
  const dataDir = await mkdtemp(path.join(tmpdir(), 'bench-footprint-'));
  const prefix = 'footprint:';
  const password = randomBytes(12).toString('base64url');
  const config = loadConfig({
    DATA_DIR: dataDir,
    REDIS_URL: own.url,
    REDIS_KEY_PREFIX: prefix,
    DEMO_PASSWORD: password,
    LOG_LEVEL: 'error',
    SIGNIN_ADDRESS_MAX_ATTEMPTS: '100000',
    UPLOAD_SEGMENTED_MAX_OPEN: String(UPLOADS),
    UPLOAD_SEGMENT_SIZE: String(5 * MiB),
    UPLOAD_STREAMS_PER_ACCOUNT: '64',
    RATE_LIMIT_PER_TOKEN: '10000000',
  });
  const runtime = await buildRuntime(config, createLogger({ level: 'error', format: 'json', silent: true }));
  const server: Server = createServer(runtime.app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redis = new Redis(own.url);
  const call = async (method: string, url: string, token: string | undefined, body?: Buffer | object, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
      body: body === undefined || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  try {
    const stages: Array<[string, Map<string, { keys: number; bytes: number }>]> = [];
    const weighed = async (stage: string) => stages.push([stage, await weigh(redis, prefix)]);
    const signIn = () => call('POST', '/v2/gateway_auth', undefined, { user: 'demo', password });

    // sessions: SESSIONS sign-ins, each then refreshed once (a spent refresh token is remembered)
    const sessions = [];
    for (let i = 0; i < SESSIONS; i++) sessions.push(await signIn());
    await weighed('signed in');
    for (const s of sessions) await call('POST', '/v2/gateway_auth_access', undefined, { 'gateway.auth.refresh.token': s['gateway.auth.refresh.token'] });
    await weighed('refreshed');
    const token = (await signIn())['gateway.auth.access.token'] as string;
    const rootId = (await signIn())['gateway.auth.metadata.id'] as string;

    // open segmented uploads of SEGMENTS_PLANNED segments each, one of them with two segments sent
    const folder = (await call('POST', `/v2/gateway_metadata_folder/${rootId}`, token, { 'gateway.metadata.name': `footprint-${Date.now()}` }))[
      'gateway.metadata.id'
    ] as string;
    const segment = randomBytes(5 * MiB);
    const sha = createHash('sha256').update(segment).digest('hex');
    const uploads = [];
    for (let u = 0; u < UPLOADS; u++) {
      uploads.push(
        await call('POST', '/v2/gateway_upload', token, {
          'gateway.metadata.parent.id': folder,
          'gateway.metadata.name': `upload-${u}.bin`,
          'gateway.metadata.file.size': segment.length * SEGMENTS_PLANNED,
          'gateway.upload.segment': Array.from({ length: SEGMENTS_PLANNED }, (_, i) => ({
            'gateway.upload.segment.number': i + 1,
            'gateway.upload.segment.size': segment.length,
            'gateway.upload.segment.sha256': sha,
          })),
        }),
      );
    }
    await weighed('uploads open');
    const planned = uploads[0]!['gateway.upload.segment'] as Array<Record<string, unknown>>;
    for (const p of planned.slice(0, 2)) {
      await call('POST', `/v2/gateway_upload_segment/${uploads[0]!['gateway.upload.id'] as string}`, token, segment, {
        'X-Gateway-Upload-Segment': JSON.stringify({ ...p, 'gateway.upload.cookie': uploads[0]!['gateway.upload.cookie'] }),
      });
    }
    await weighed('segments sent');

    // a folder of LISTED files, listed once: each file's facts are cached
    const listed = (await call('POST', `/v2/gateway_metadata_folder/${rootId}`, token, { 'gateway.metadata.name': `listed-${Date.now()}` }))[
      'gateway.metadata.id'
    ] as string;
    for (let i = 0; i < LISTED; i += 16) {
      await Promise.all(
        Array.from({ length: Math.min(16, LISTED - i) }, (_, j) =>
          call('POST', `/v2/gateway_metadata_file/${listed}`, token, Buffer.from('x'), {
            'X-Gateway-Upload': JSON.stringify({ 'gateway.metadata.name': `f${i + j}.txt`, 'gateway.metadata.file.size': 1 }),
          }),
        ),
      );
    }
    await weighed('files uploaded');

    // that folder renamed: its job's record and index entries while it runs
    const usage = async (pattern: string) => {
      let bytes = 0;
      for (const key of await redis.keys(`${prefix}${pattern}`)) bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      return bytes;
    };
    const renaming = call('PUT', `/v2/gateway_metadata_name/${listed}`, token, { 'new.gateway.metadata.name': `renamed-${Date.now()}` });
    let running = 0;
    for (let i = 0; i < 1000 && running === 0; i++) {
      running = (await usage('fjob:*')) > 0 ? (await usage('fjob:*')) + (await usage('fjobs:*')) + (await usage('fjob-index')) : 0;
      if (running === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await renaming;

    const kinds = stages.at(-1)![1];
    const at = (stage: string, kind: string) => stages.find(([s]) => s === stage)![1].get(kind) ?? { keys: 0, bytes: 0 };
    const per = (bytes: number, n: number) => Math.round(bytes / n);
    const family = per(
      ['fam', 'at', 'rt'].reduce((sum, k) => sum + at('signed in', k).bytes, 0),
      SESSIONS + 0,
    );
    // a refresh leaves its single-use claim, for minutes (and, for a session from before family secrets, the old token's key)
    const spent = per(at('refreshed', 'rtu').bytes + at('refreshed', 'rt').bytes - at('signed in', 'rt').bytes, SESSIONS);
    const upload = per(at('uploads open', 'up').bytes, UPLOADS);
    const sweep = per(at('uploads open', 'mpu').bytes, at('uploads open', 'mpu').keys || 1);
    const part = per(at('segments sent', 'up-segment').bytes, 2);
    const entry = per(
      (kinds.get('meta')?.bytes ?? 0) - (at('segments sent', 'meta').bytes ?? 0),
      (kinds.get('meta')?.keys ?? 0) - at('segments sent', 'meta').keys,
    );
    const limiter = kinds.get('req-token');
    const rows = [...kinds].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v.keys} keys ${(v.bytes / 1024).toFixed(0)} KiB`);
    return (
      `\nsession store footprint (Redis MEMORY USAGE, measured here through the API):\n` +
      `  a session (one sign-in: its family record and access token; refresh tokens need no key): ${family} bytes, however often it is refreshed; each refresh leaves a claim of ${spent} bytes for 5 minutes\n` +
      `  an open segmented upload of ${SEGMENTS_PLANNED} planned segments: ${upload} bytes, plus ${sweep} bytes for its multipart upload's registry entry, plus ${part} bytes per segment sent\n` +
      `  a cached entry (a listed file's modified time and sha256): ${entry} bytes; a rate-limit counter: ${limiter ? per(limiter.bytes, limiter.keys) : '?'} bytes per token (and per address) for its minute\n` +
      `  a folder rename, move or delete: ${running || '?'} bytes while its job runs (its record and its two index entries), nothing after\n` +
      `  every key at the end: ${rows.join('; ')}\n`
    );
  } finally {
    redis.disconnect();
    server.close();
    await runtime.close();
    await own.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

// `node .bench-build/bench/footprint.js` runs this part alone.
if (process.argv[1]?.endsWith('footprint.js')) process.stdout.write(await benchFootprint());
