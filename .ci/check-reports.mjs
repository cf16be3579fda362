// Reads jest's --json reports of the two CI runs: every test passed, none was skipped for lack of
// Redis or a real S3, the Redis-backed and real-S3-only tests really ran, and one summary line is printed.
import { readFileSync } from 'node:fs';

const [embeddedFile, realFile] = process.argv.slice(2);
const load = (f) => JSON.parse(readFileSync(f, 'utf8'));
const tests = (report) => report.testResults.flatMap((file) => file.assertionResults);

let failed = 0;
let passed = 0;
const problems = [];
for (const [name, file] of [['embedded', embeddedFile], ['real-s3', realFile]]) {
  const all = tests(load(file));
  const ok = all.filter((t) => t.status === 'passed');
  const bad = all.filter((t) => t.status === 'failed');
  const skipped = all.filter((t) => t.status !== 'passed' && t.status !== 'failed');
  passed += ok.length;
  failed += bad.length;
  const redis = ok.filter((t) => /redis/i.test(t.fullName));
  console.log(`${name}: ${ok.length} passed, ${bad.length} failed, ${skipped.length} skipped; ${redis.length} Redis-backed passed`);
  if (redis.length === 0) problems.push(`${name}: no Redis-backed test ran`);
  if (name === 'real-s3') {
    const realOnly = ok.filter((t) => /real S3 only/i.test(t.fullName));
    console.log(`real-s3: ${realOnly.length} real-S3-only tests passed`);
    if (realOnly.length === 0) problems.push('real-s3: no real-S3-only test ran');
    if (skipped.length) problems.push(`real-s3: ${skipped.length} tests skipped: ${skipped.map((t) => t.fullName).join('; ')}`);
  } else {
    const unexpected = skipped.filter((t) => !/real S3 only/i.test(t.fullName));
    if (unexpected.length) problems.push(`embedded: unexpected skips: ${unexpected.map((t) => t.fullName).join('; ')}`);
  }
}
for (const p of problems) console.error(`ci: ${p}`);
console.log(`ci: ${passed} passed, ${failed + problems.length} failed`);
process.exit(failed + problems.length > 0 ? 1 : 0);
