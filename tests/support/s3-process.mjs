// Starts the embedded S3 server in a process of its own and prints its endpoint, so that a test can
// measure the gateway's memory without the S3 server's in the same process.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedS3 } from '../../dist/storage/s3/embedded.js';

const dir = await mkdtemp(path.join(tmpdir(), 's3-process-'));
const s3 = await startEmbeddedS3(dir);
process.stdout.write(`${s3.endpoint}\n`);
process.on('SIGTERM', () => void s3.close().finally(() => process.exit(0)));
