// Runs the gateway's embedded S3 server on its own (after `npm run build`) and prints its endpoint:
// for the benchmark and the memory test, which keep S3 out of the process they measure, and for
// anyone who wants a throwaway S3 on loopback. Data goes to a new temporary folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedS3 } from '../dist/storage/s3/embedded.js';

const dir = await mkdtemp(path.join(tmpdir(), 'embedded-s3-'));
const s3 = await startEmbeddedS3(dir);
process.stdout.write(`${s3.endpoint}\n`);
const stop = () => void s3.close().finally(() => rm(dir, { recursive: true, force: true }).finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
