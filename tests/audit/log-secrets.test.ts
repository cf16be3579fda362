import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EMBEDDED_CREDENTIALS } from '../../src/storage/s3/embedded.js';
import { DEMO_PASSWORD, TEST_PASSWORD } from '../support/gateway.js';
import { findLeaks } from '../support/log-audit.js';
import { waitFor } from '../support/processes.js';
import { realS3 } from '../support/targets.js';

/**
 * Reads every log line the suite produced (each gateway in a test process and each `dist/main.js`
 * the tests ran copies its output into the audit folder) and fails on any token, password, S3 secret
 * or JWT. The sequencer runs this file last; it waits for the others to finish.
 */
const dir = process.env.TEST_AUDIT_DIR;

it(
  'finds no token, password or S3 secret in any log line the suite produced',
  async () => {
    if (!dir) throw new Error('TEST_AUDIT_DIR is not set: run the suite with `npm test` (jest.config.js sets the sequencer that makes it)');
    const expected = (JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as string[]).filter((f) =>
      f.includes(`${path.sep}integration${path.sep}`),
    );
    if (expected.length === 0) throw new Error('This test reads the logs of the integration tests: run it with the whole suite (`npm test`), not alone.');
    const marker = (f: string) => path.join(dir, 'done', createHash('sha256').update(f).digest('hex'));
    await waitFor(() => expected.every((f) => existsSync(marker(f))), 'every other test file to finish', 40 * 60_000);

    const secrets = new Set([TEST_PASSWORD, DEMO_PASSWORD, EMBEDDED_CREDENTIALS.secretAccessKey, ...(realS3 ? [realS3.secretAccessKey] : [])]);
    const recorded = path.join(dir, 'secrets');
    if (existsSync(recorded)) for (const line of readFileSync(recorded, 'utf8').split('\n')) if (line) secrets.add(JSON.parse(line) as string);

    const files = readdirSync(path.join(dir, 'logs'));
    let signIns = 0;
    const leaks = files.flatMap((f) => {
      const text = readFileSync(path.join(dir, 'logs', f), 'utf8');
      signIns += text.split('"route":"/v2/gateway_auth"').length - 1;
      return findLeaks(f, text, secrets);
    });
    // The audit saw the suite: gateways in test processes and gateway processes both logged, tokens were issued.
    expect(files.some((f) => f.startsWith('in-process-'))).toBe(true);
    expect(files.some((f) => f.startsWith('process-'))).toBe(true);
    expect(signIns).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  },
  45 * 60_000,
);
