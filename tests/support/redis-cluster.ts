import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { freePort, startRedisServer, type RedisProcess } from './redis-server.mjs';
import { waitFor } from './processes.js';

/** One node as `CLUSTER NODES` tells it. */
interface NodeView {
  id: string;
  port: number;
  master: boolean;
  /** A replica's master id. */
  of: string | undefined;
  slots: Array<[number, number]>;
}

export interface RedisCluster {
  /** Every node's address (three masters and a replica of each, at start). */
  nodes: Array<{ host: string; port: number }>;
  /** What the gateway is given: REDIS_URL (credentials only), REDIS_CLUSTER_NODES, and the CA with TLS. */
  env: { REDIS_URL: string; REDIS_CLUSTER_NODES: string; NODE_EXTRA_CA_CERTS?: string };
  /** The port of the master now serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /** The ports of the masters now. */
  masters(): Promise<number[]>;
  /**
   * A coordinated failover of the master on `port`: its replica takes over (CLUSTER FAILOVER, as a
   * managed Redis does for maintenance) and every node agrees before this resolves. Answers the new master's port.
   */
  failover(port: number): Promise<number>;
  stop(): Promise<void>;
}

const CLI_HINT = 'redis-cli was not found on PATH (it comes with redis-server: apt-get install redis-server, or redis-tools)';

/** `redis-cli` can create a cluster; its absence is a failure where Redis-backed tests must run. */
export function findRedisCli(): string | undefined {
  const bin = process.env.REDIS_CLI_BIN ?? 'redis-cli';
  return spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0 ? bin : undefined;
}

/** A plain client of one node, for the harness's own questions (over TLS when the cluster speaks it). */
type Admin = (port: number) => Redis;

async function clusterNodes(adminOf: Admin, port: number): Promise<NodeView[]> {
  const admin = adminOf(port);
  try {
    await admin.connect();
    const text = (await admin.call('CLUSTER', 'NODES')) as string;
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, addr, flags, of, , , , , ...slots] = line.split(' ');
        return {
          id: id!,
          port: Number(addr!.split('@')[0]!.split(':')[1]),
          master: flags!.split(',').includes('master') && !flags!.includes('fail'),
          of: of === '-' ? undefined : of,
          slots: slots
            .filter((s) => !s.startsWith('['))
            .map((s) => s.split('-').map(Number) as [number, number])
            .map(([a, b]) => [a, b ?? a]),
        };
      });
  } finally {
    admin.disconnect();
  }
}

async function clusterOk(adminOf: Admin, port: number): Promise<boolean> {
  const admin = adminOf(port);
  try {
    await admin.connect();
    return /cluster_state:ok/.test((await admin.call('CLUSTER', 'INFO')) as string);
  } catch {
    return false;
  } finally {
    admin.disconnect();
  }
}

/** A CA and a certificate for `localhost` only (no IP), as managed clusters name their hosts; openssl makes them. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const files = { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'node.crt'), key: path.join(dir, 'node.key') };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const steps = [
    ['req', '-x509', ...ec, '-keyout', path.join(dir, 'ca.key'), '-out', files.ca, '-days', '1', '-subj', '/CN=cluster test CA'],
    ['req', ...ec, '-keyout', files.key, '-out', path.join(dir, 'node.csr'), '-subj', '/CN=localhost'],
    [
      'x509',
      '-req',
      '-in',
      path.join(dir, 'node.csr'),
      '-CA',
      files.ca,
      '-CAkey',
      path.join(dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      files.cert,
      '-days',
      '1',
      '-extfile',
      path.join(dir, 'san.cnf'),
    ],
  ];
  writeFileSync(path.join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost\n');
  for (const args of steps) {
    const run = spawnSync('openssl', args, { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`openssl ${args[0]} failed (the TLS cluster test needs openssl on PATH): ${run.stderr ?? run.error}`);
  }
  return files;
}

/**
 * Three masters and a replica of each, on loopback ports, without persistence: a real Redis Cluster,
 * as ElastiCache in cluster mode or Valkey run it. Resolves once every node reports the cluster ok.
 * With `tls`, every node speaks only TLS (clients, replication, the cluster bus) with a certificate
 * for `localhost` and announces itself by that name, as a managed cluster does.
 */
export async function startRedisCluster(serverBin: string, cliBin: string, opts: { tls?: boolean } = {}): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'redis-cluster-'));
  const servers: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  let certificates: { ca: string; cert: string; key: string } | undefined;
  const host = opts.tls ? 'localhost' : '127.0.0.1';
  const adminOf: Admin = (port) =>
    new Redis({
      host,
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      ...(certificates ? { tls: { ca: readFileSync(certificates.ca) } } : {}),
    });
  try {
    if (opts.tls) certificates = makeCertificates(dir);
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      const tlsArgs = certificates
        ? [
            '--port',
            '0',
            '--tls-port',
            String(port),
            '--tls-cert-file',
            certificates.cert,
            '--tls-key-file',
            certificates.key,
            '--tls-ca-cert-file',
            certificates.ca,
          ]
        : [];
      servers.push(
        await startRedisServer(serverBin, port, [
          ...tlsArgs,
          ...(certificates
            ? [
                '--tls-cluster',
                'yes',
                '--tls-replication',
                'yes',
                '--tls-auth-clients',
                'no',
                '--cluster-announce-hostname',
                'localhost',
                '--cluster-preferred-endpoint-type',
                'hostname',
              ]
            : []),
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(await freePort()),
          '--cluster-config-file',
          path.join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
          '--dir',
          dir,
        ]),
      );
    }
    const created = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const tlsCli = certificates ? ['--tls', '--cacert', certificates.ca] : [];
      const cli = spawn(cliBin, [...tlsCli, '--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '1', '--cluster-yes']);
      let out = '';
      cli.stdout.on('data', (d) => (out += d.toString()));
      cli.stderr.on('data', (d) => (out += d.toString()));
      cli.on('exit', (code) => resolve({ code, out }));
    });
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed: ${created.out}`);
    await waitFor(async () => (await Promise.all(servers.map((s) => clusterOk(adminOf, s.port)))).every(Boolean), 'the Redis Cluster to be ok', 30_000);
  } catch (err) {
    await stop();
    throw err;
  }

  const ports = servers.map((s) => s.port);
  const masterOf = async (key: string) => {
    const slot = calculateSlot(key);
    const views = await clusterNodes(adminOf, ports[0]!);
    const owner = views.find((n) => n.master && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!owner) throw new Error(`no master serves slot ${slot}`);
    return owner.port;
  };
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    env: {
      REDIS_URL: certificates ? 'rediss://localhost:1' : 'redis://127.0.0.1:1',
      REDIS_CLUSTER_NODES: ports.map((p) => `${host}:${p}`).join(','),
      // the gateway trusts the test CA as an operator's private CA: through Node's own setting
      ...(certificates ? { NODE_EXTRA_CA_CERTS: certificates.ca } : {}),
    },
    masterOf,
    masters: async () => (await clusterNodes(adminOf, ports[0]!)).filter((n) => n.master && n.slots.length > 0).map((n) => n.port),
    async failover(oldPort) {
      const views = await clusterNodes(adminOf, oldPort);
      const old = views.find((n) => n.port === oldPort)!;
      const replica = views.find((n) => n.of === old.id);
      if (!replica) throw new Error(`the master on ${oldPort} has no replica`);
      const admin = adminOf(replica.port);
      try {
        await admin.call('CLUSTER', 'FAILOVER');
      } finally {
        admin.disconnect();
      }
      // every node sees the replica as the master of those slots, and the cluster is ok again
      await waitFor(
        async () => {
          for (const port of ports) {
            const seen = (await clusterNodes(adminOf, port)).find((n) => n.port === replica.port);
            if (!seen?.master || !(await clusterOk(adminOf, port))) return false;
          }
          return true;
        },
        `the replica on ${replica.port} to take over from ${oldPort}`,
        30_000,
      );
      return replica.port;
    },
    stop,
  };
}

export { CLI_HINT as REDIS_CLI_HINT };
