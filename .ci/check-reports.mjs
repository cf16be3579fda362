// Reads jest's --json reports of the CI runs, given as `<kind>@<node version>=<file>` with kind `embedded`
// or `real-s3`, and fails unless: every test passed; nothing was skipped but the embedded runs' real-S3-only
// tests; on each Node version the real-S3 run executed every test its embedded run executed plus those
// real-S3-only ones; every Node version ran the same tests; Redis-backed tests ran everywhere; and no run
// executed fewer tests than the counts recorded in .ci/test-counts.json (a test that vanishes fails CI
// until the file says so).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const countsFile = path.join(path.dirname(new URL(import.meta.url).pathname), 'test-counts.json');
const recorded = JSON.parse(readFileSync(countsFile, 'utf8'));
const load = (f) => JSON.parse(readFileSync(f, 'utf8'));
/** Every test of a report, named by its file (relative) and its full title. */
const tests = (report) =>
  report.testResults.flatMap((file) => file.assertionResults.map((t) => ({ ...t, id: `${path.relative(process.cwd(), file.name)} › ${t.fullName}` })));
const realOnly = (t) => /real S3 only/i.test(t.fullName);

const problems = [];
/** By Node version, then kind: the run's tests. */
const runs = {};
for (const arg of process.argv.slice(2)) {
  const m = /^(embedded|real-s3)@([^=]+)=(.+)$/.exec(arg);
  if (!m) {
    console.error(`ci: not <embedded|real-s3>@<node>=<report>: ${arg}`);
    process.exit(2);
  }
  const [, kind, node, file] = m;
  const name = `${kind} on Node ${node}`;
  const all = tests(load(file));
  const ok = all.filter((t) => t.status === 'passed');
  const bad = all.filter((t) => t.status === 'failed');
  const skipped = all.filter((t) => t.status !== 'passed' && t.status !== 'failed');
  (runs[node] ??= {})[kind] = { all, ok, skipped };
  const redis = ok.filter((t) => /redis/i.test(t.fullName));
  console.log(`${name}: ${ok.length} passed, ${bad.length} failed, ${skipped.length} skipped; ${redis.length} Redis-backed passed`);
  for (const t of bad) problems.push(`${name}: failed: ${t.id}`);
  if (redis.length === 0) problems.push(`${name}: no Redis-backed test ran`);
  if (ok.length < recorded[kind]) {
    problems.push(
      `${name}: ${ok.length} tests passed, fewer than the ${recorded[kind]} recorded in .ci/test-counts.json: a test vanished (lower the count there only when one was removed on purpose)`,
    );
  }
  const unexpected = kind === 'embedded' ? skipped.filter((t) => !realOnly(t)) : skipped;
  for (const t of unexpected) problems.push(`${name}: skipped: ${t.id}`);
}

const versions = Object.keys(runs);
if (versions.length === 0) problems.push('no reports given');
for (const node of versions) {
  const { embedded, 'real-s3': real } = runs[node];
  if (!embedded || !real) {
    problems.push(`Node ${node}: needs both an embedded and a real-s3 report`);
    continue;
  }
  // The real-S3 run must have executed everything the embedded one did, and the real-S3-only tests too.
  const realPassed = new Set(real.ok.map((t) => t.id));
  const owed = [...embedded.ok, ...embedded.skipped.filter(realOnly)].filter((t) => !realPassed.has(t.id));
  for (const t of owed) problems.push(`real-s3 on Node ${node}: did not pass a test the embedded run executed or skipped as real-S3-only: ${t.id}`);
  const realOnlyPassed = real.ok.filter(realOnly).length;
  console.log(`real-s3 on Node ${node}: ${realOnlyPassed} real-S3-only tests passed`);
  if (realOnlyPassed === 0) problems.push(`real-s3 on Node ${node}: no real-S3-only test ran`);
}
// Every Node version passed the same tests.
for (const kind of ['embedded', 'real-s3']) {
  const [first, ...others] = versions.filter((v) => runs[v][kind]);
  for (const other of others) {
    const a = new Set(runs[first][kind].ok.map((t) => t.id));
    const b = new Set(runs[other][kind].ok.map((t) => t.id));
    for (const id of a) if (!b.has(id)) problems.push(`${kind} on Node ${other}: did not pass what Node ${first} passed: ${id}`);
    for (const id of b) if (!a.has(id)) problems.push(`${kind} on Node ${first}: did not pass what Node ${other} passed: ${id}`);
  }
}

for (const p of problems) console.error(`ci: ${p}`);
const passed = versions.flatMap((v) => Object.values(runs[v])).reduce((n, r) => n + r.ok.length, 0);
console.log(`ci: ${passed} passed across ${versions.length} Node version(s), ${problems.length} problems`);
const most = (kind) => Math.max(0, ...versions.map((v) => runs[v][kind]?.ok.length ?? 0));
if (problems.length === 0 && (most('embedded') > recorded.embedded || most('real-s3') > recorded['real-s3'])) {
  console.log(`ci: more tests than recorded; raise .ci/test-counts.json to {"embedded": ${most('embedded')}, "real-s3": ${most('real-s3')}}`);
}
process.exit(problems.length > 0 ? 1 : 0);
