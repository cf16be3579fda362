import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sequencer from '@jest/test-sequencer';

const Base = sequencer.default ?? sequencer;
export const AUDIT_TEST = 'log-secrets.test.ts';

/**
 * Jest's own order, with the suite-wide log audit last; it also makes the run's audit folder
 * (TEST_AUDIT_DIR, inherited by the workers) and lists the files the audit must wait for.
 */
export default class AuditLastSequencer extends Base {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const isAudit = (t) => path.basename(t.path) === AUDIT_TEST;
    const others = sorted.filter((t) => !isAudit(t));
    if (!process.env.TEST_AUDIT_DIR) process.env.TEST_AUDIT_DIR = mkdtempSync(path.join(tmpdir(), 'gateway-test-audit-'));
    writeFileSync(path.join(process.env.TEST_AUDIT_DIR, 'expected.json'), JSON.stringify(others.map((t) => t.path)));
    return [...others, ...sorted.filter(isAudit)];
  }
}
