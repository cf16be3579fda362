import { rm } from 'node:fs/promises';

export default async function globalTeardown() {
  await globalThis.__testRedis?.stop();
  // The log audit's folder (tests/support/sequencer.mjs): test logs are not kept after the run.
  if (process.env.TEST_AUDIT_DIR) await rm(process.env.TEST_AUDIT_DIR, { recursive: true, force: true });
}
