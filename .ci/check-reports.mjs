// Reads jest's --json reports of the two CI runs and fails unless: every test passed; nothing was skipped
// but the embedded run's real-S3-only tests; the real-S3 run executed every test the embedded run executed
// plus those real-S3-only ones; Redis-backed tests ran in both; and neither run executed fewer tests than
// the counts recorded in .ci/test-counts.json (a test that vanishes fails CI until the file says so).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [embeddedFile, realFile] = process.argv.slice(2);
const countsFile = path.join(path.dirname(new URL(import.meta.url).pathname), 'test-counts.json');
const recorded = JSON.parse(readFileSync(countsFile, 'utf8'));
const load = (f) => JSON.parse(readFileSync(f, 'utf8'));
/** Every test of a report, named by its file (relative) and its full title. */
const tests = (report) =>
  report.testResults.flatMap((file) => file.assertionResults.map((t) => ({ ...t, id: `${path.relative(process.cwd(), file.name)} › ${t.fullName}` })));
const realOnly = (t) => /real S3 only/i.test(t.fullName);

const problems = [];
const runs = {};
for (const [name, file] of [
  ['embedded', embeddedFile],
  ['real-s3', realFile],
]) {
  const all = tests(load(file));
  const ok = all.filter((t) => t.status === 'passed');
  const bad = all.filter((t) => t.status === 'failed');
  const skipped = all.filter((t) => t.status !== 'passed' && t.status !== 'failed');
  runs[name] = { all, ok, skipped };
  const redis = ok.filter((t) => /redis/i.test(t.fullName));
  console.log(`${name}: ${ok.length} passed, ${bad.length} failed, ${skipped.length} skipped; ${redis.length} Redis-backed passed`);
  for (const t of bad) problems.push(`${name}: failed: ${t.id}`);
  if (redis.length === 0) problems.push(`${name}: no Redis-backed test ran`);
  if (ok.length < recorded[name]) {
    problems.push(
      `${name}: ${ok.length} tests passed, fewer than the ${recorded[name]} recorded in .ci/test-counts.json: a test vanished (lower the count there only when one was removed on purpose)`,
    );
  }
  const unexpected = name === 'embedded' ? skipped.filter((t) => !realOnly(t)) : skipped;
  for (const t of unexpected) problems.push(`${name}: skipped: ${t.id}`);
}

// The real-S3 run must have executed everything the embedded one did, and the real-S3-only tests too.
const realPassed = new Set(runs['real-s3'].ok.map((t) => t.id));
const owed = [...runs.embedded.ok, ...runs.embedded.skipped.filter(realOnly)].filter((t) => !realPassed.has(t.id));
for (const t of owed) problems.push(`real-s3: did not pass a test the embedded run executed or skipped as real-S3-only: ${t.id}`);
const realOnlyPassed = runs['real-s3'].ok.filter(realOnly).length;
console.log(`real-s3: ${realOnlyPassed} real-S3-only tests passed`);
if (realOnlyPassed === 0) problems.push('real-s3: no real-S3-only test ran');

for (const p of problems) console.error(`ci: ${p}`);
const passed = runs.embedded.ok.length + runs['real-s3'].ok.length;
console.log(`ci: ${passed} passed, ${problems.length} problems`);
if (problems.length === 0 && (runs.embedded.ok.length > recorded.embedded || runs['real-s3'].ok.length > recorded['real-s3'])) {
  console.log(`ci: more tests than recorded; raise .ci/test-counts.json to {"embedded": ${runs.embedded.ok.length}, "real-s3": ${runs['real-s3'].ok.length}}`);
}
process.exit(problems.length > 0 ? 1 : 0);
