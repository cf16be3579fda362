import { createCipheriv } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import S3rver from 's3rver';

/** Credentials of the embedded server: it checks no signatures, so these are placeholders, not secrets. */
export const EMBEDDED_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface EmbeddedS3 {
  endpoint: string;
  directory: string;
  close(): Promise<void>;
}

/**
 * s3rver signs its listing page tokens with DES, which Node 17+ only offers with the OpenSSL legacy
 * provider; without it every truncated listing fails. Refuse to start rather than fail later.
 */
function assertLegacyCipherAvailable(): void {
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch {
    throw new Error(
      'The embedded S3 server needs Node started with --openssl-legacy-provider (npm start does this), or set S3_ENDPOINT to use another S3 server.',
    );
  }
}

/**
 * An S3-compatible server in this process, for trying the gateway and for development: data lives in
 * `<dataDir>/s3`. It is not a production store (no signature checks, no multipart abort, ...).
 */
export async function startEmbeddedS3(dataDir: string): Promise<EmbeddedS3> {
  assertLegacyCipherAvailable();
  const directory = path.join(dataDir, 's3');
  await mkdir(directory, { recursive: true });
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    async close() {
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
