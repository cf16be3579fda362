import { parseRate } from '../../src/shell/commands.js';
import { detailOf, factsOf, listedEntry, refreshedOf, signedInOf } from '../../src/shell/gateway-client.js';
import { localName, windowsNameProblem } from '../../src/shell/local-files.js';

describe('gws, pure parts', () => {
  it.each([['..'], ['.'], [''], ['a/b'], ['..\\evil'], ['nul\0']])('refuses the remote name %j as a local file name', (name) => {
    expect(() => localName(name)).toThrow(/cannot be a local file name/);
  });

  it('takes any other name as it is', () => {
    for (const name of ['café ☕.txt', '...', 'a..b', ' spaced ', '#%?&', 'CON', 'a:b', 'end.']) expect(localName(name, 'linux')).toBe(name);
  });

  it.each([
    ['CON', 'it is the name of a device'],
    ['con', 'it is the name of a device'],
    ['NUL.txt', 'it is the name of a device'],
    ['Aux .tar.gz', 'it is the name of a device'],
    ['COM1', 'it is the name of a device'],
    ['lpt9.log', 'it is the name of a device'],
    ['COM¹', 'it is the name of a device'],
    ['a:b', 'it contains ":"'],
    ['a<b', 'it contains "<"'],
    ['say "hi"', 'it contains "\\""'],
    ['why?', 'it contains "?"'],
    ['star*', 'it contains "*"'],
    ['pi|pe', 'it contains "|"'],
    ['tab\there', 'it contains "\\t"'],
    ['dot.', 'it ends with a dot or a space'],
    ['space ', 'it ends with a dot or a space'],
  ])('refuses on Windows the name %j: %s', (name, problem) => {
    expect(windowsNameProblem(name)).toBe(problem);
    expect(() => localName(name, 'win32')).toThrow(`which Windows cannot hold (${problem}); nothing written for it`);
  });

  it('takes on Windows the names Windows holds', () => {
    for (const name of ['CONSOLE', 'con-tract.pdf', 'COM10', 'LPT', 'a.b', '.hidden', 'café ☕.txt', ' lead']) expect(localName(name, 'win32')).toBe(name);
  });

  it('reads --limit-rate in bytes per second', () => {
    expect(parseRate('500')).toBe(500);
    expect(parseRate('500k')).toBe(512_000);
    expect(parseRate('10M')).toBe(10 * 1024 ** 2);
    expect(parseRate('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseRate('2MiB')).toBe(2 * 1024 ** 2);
    expect(() => parseRate('fast')).toThrow(/bytes per second/);
  });
});

describe('gws reads answers as the spec defines them', () => {
  it('takes a sign-in answer with only an access token and the root, under either name odrive has used for it', () => {
    expect(signedInOf({ 'gateway.auth.access.token': 't', 'gateway.auth.metadata.id': 'r' })).toEqual({
      accessToken: 't',
      refreshToken: undefined,
      rootId: 'r',
      authId: undefined,
      segmentSize: undefined,
    });
    expect(signedInOf({ 'gateway.auth.access.token': 't', 'gateway.auth.metadata.content.id': 'r' }).rootId).toBe('r');
    expect(signedInOf({ 'gateway.auth.access.token': 't', 'gateway.auth.metadata.id': '', 'gateway.upload.segment.size': 0 })).toMatchObject({
      rootId: '',
      segmentSize: undefined,
    });
    expect(() => signedInOf({ 'gateway.auth.metadata.id': 'r' })).toThrow("sign in: the gateway's answer has no gateway.auth.access.token");
    expect(() => signedInOf({ 'gateway.auth.access.token': 't' })).toThrow("sign in: the gateway's answer names no root folder (gateway.auth.metadata.id)");
  });

  it('keeps the refresh token it has when a refresh answers none', () => {
    expect(refreshedOf({ 'gateway.auth.access.token': 'new' }, { accessToken: 'old', refreshToken: 'kept' })).toEqual({
      accessToken: 'new',
      refreshToken: 'kept',
    });
    expect(
      refreshedOf({ 'gateway.auth.access.token': 'new', 'gateway.auth.refresh.token': 'next' }, { accessToken: 'old', refreshToken: 'kept' }).refreshToken,
    ).toBe('next');
  });

  it('reads of an answer only what it carries', () => {
    // A rename answer as odrive's reference gateway sends it.
    expect(factsOf({ 'gateway.metadata.id': 'n', 'gateway.metadata.name': 'b.txt' })).toEqual({ id: 'n', name: 'b.txt' });
    expect(
      factsOf({
        'gateway.metadata.id': 'n',
        'gateway.metadata.type': 'link',
        'gateway.metadata.modified': '1700000000123',
        'gateway.metadata.file.size': -1,
        'gateway.metadata.file.hash': '',
      }),
    ).toEqual({
      id: 'n',
      modified: 1_700_000_000_123,
    });
  });

  it('takes a listed entry with only id, type and name, its parent the folder listed', () => {
    expect(listedEntry({ 'gateway.metadata.id': 'f', 'gateway.metadata.type': 'file', 'gateway.metadata.name': 'a.txt' }, 'dir')).toEqual({
      id: 'f',
      parentId: 'dir',
      type: 'file',
      name: 'a.txt',
      modified: 0,
      size: undefined,
      hash: undefined,
    });
    expect(() => listedEntry({ 'gateway.metadata.id': 'f', 'gateway.metadata.name': 'a.txt' }, 'dir')).toThrow(
      "list folder: the gateway's answer has no gateway.metadata.type",
    );
  });

  it('says what an error answer says, in one line', () => {
    expect(detailOf(JSON.stringify({ error: 'conflict', message: 'name: exists\nalready' }))).toBe('name: exists already');
    expect(detailOf('name conflict\n')).toBe('name conflict');
    expect(detailOf('<html><body>Not Found</body></html>')).toBe('');
    expect(detailOf('')).toBe('');
  });
});
