import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestEnvironment as NodeEnvironment } from 'jest-environment-node';

/** Node's environment, which also tells the log audit when a test file is over (after its afterAll). */
export default class AuditedEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
  }

  async teardown() {
    await super.teardown();
    const dir = process.env.TEST_AUDIT_DIR;
    if (!dir) return;
    mkdirSync(path.join(dir, 'done'), { recursive: true });
    writeFileSync(path.join(dir, 'done', createHash('sha256').update(this.testPath).digest('hex')), this.testPath);
  }
}
