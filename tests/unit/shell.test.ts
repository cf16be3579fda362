import { parseRate } from '../../src/shell/commands.js';
import { localName } from '../../src/shell/transfers.js';

describe('gws, pure parts', () => {
  it.each([['..'], ['.'], [''], ['a/b'], ['..\\evil'], ['nul\0']])('refuses the remote name %j as a local file name', (name) => {
    expect(() => localName(name)).toThrow(/cannot be a local file name/);
  });

  it('takes any other name as it is', () => {
    for (const name of ['café ☕.txt', '...', 'a..b', ' spaced ', '#%?&']) expect(localName(name)).toBe(name);
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
