import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadMountsFile } from '../../src/core/mounts/mounts-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mounts-file-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function load(text: string) {
  const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, text);
  return loadMountsFile(file, 'gateway');
}

describe('MOUNTS_FILE', () => {
  it('reads endpoints, mounts and the home template, with defaults', async () => {
    const read = await load(
      [
        'home: users/{name}/',
        'endpoints:',
        '  archive:',
        '    url: https://s3.eu-central-1.wasabisys.com',
        '    region: eu-central-1',
        '    provider: wasabi',
        '    accessKeyId: AKIA1',
        '    secretAccessKey: s3cr3t',
        'mounts:',
        '  - name: Engineering',
        '    prefix: /teams/engineering',
        '    groups: [engineering]',
        '  - name: Archive',
        '    endpoint: archive',
        '    bucket: company-archive',
        '    readOnly: true',
        '    users: [alice]',
      ].join('\n'),
    );
    expect(read.home).toBe('users/{name}/');
    expect(read.endpoints.get('archive')).toMatchObject({ url: 'https://s3.eu-central-1.wasabisys.com', provider: 'wasabi', region: 'eu-central-1' });
    expect(read.mounts).toEqual([
      { name: 'Engineering', endpoint: undefined, bucket: 'gateway', prefix: 'teams/engineering/', readOnly: false, users: [], groups: ['engineering'] },
      { name: 'Archive', endpoint: 'archive', bucket: 'company-archive', prefix: '', readOnly: true, users: ['alice'], groups: [] },
    ]);
  });

  it.each([
    ['mounts:\n  - name: a/b\n', /mounts\.0\.name must not contain "\/"/],
    ['mounts:\n  - name: ".."\n', /mounts\.0\.name must be a folder name/],
    ['mounts:\n  - name: Team\n  - name: team\n', /mounts\.1\.name "team" is used twice/],
    ['mounts:\n  - name: Team\n    prefix: a/../b\n', /mounts\.0\.prefix must be a key prefix/],
    ['mounts:\n  - name: Team\n    bucket: Bad_Bucket\n', /mounts\.0\.bucket must be a valid S3 bucket name/],
    ['mounts:\n  - name: Team\n    endpoint: nowhere\n', /mounts\.0\.endpoint "nowhere" is not one of endpoints/],
    ['endpoints:\n  x:\n    url: http://key:secret@host\n    accessKeyId: a\n    secretAccessKey: b\n', /endpoints\.x\.url must be an http/],
    ['endpoints:\n  x:\n    url: http://host\n    accessKeyId: a\n', /endpoints\.x\.secretAccessKey/],
    ['endpoints:\n  x:\n    url: http://host\n    provider: ibm\n    accessKeyId: a\n    secretAccessKey: b\n', /endpoints\.x\.provider must be one of/],
    ['home: users/\n', /home must be a key prefix template holding \{name\}/],
    ['mount:\n  - name: Team\n', /top level|mount/],
    ['mounts: [\n', /is not valid YAML/],
  ])('refuses %j in one line naming the place', async (text, expected) => {
    const err = await load(text).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^MOUNTS_FILE \S+: /);
    expect(err?.message).toMatch(expected);
    expect(err?.message).not.toContain('\n');
    expect(err?.message).not.toContain('secret@');
  });
});
