import fc from 'fast-check';
import { parseRange, resolveRange } from '../../src/core/transfers/downloads.js';

/**
 * RFC 9110 14.1.1, written out the long way for a reference: the set of byte positions one range-spec
 * selects, or 'ignore' for a header a server may ignore (and then sends the whole file).
 */
function reference(header: string, size: number): 'ignore' | 'unsatisfiable' | number[] {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'ignore';
  const positions: number[] = [];
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    for (let p = Math.max(0, size - n); p < size; p++) positions.push(p);
    return positions.length ? positions : 'ignore'; // an empty file: no byte to name, sent whole
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < first) return 'ignore';
  if (first >= size) return 'unsatisfiable';
  for (let p = first; p <= Math.min(last, size - 1); p++) positions.push(p);
  return positions;
}

const header = fc.oneof(
  fc.tuple(fc.nat(60), fc.nat(60)).map(([a, b]) => `bytes=${a}-${b}`),
  fc.nat(60).map((a) => `bytes=${a}-`),
  fc.nat(60).map((n) => `bytes=-${n}`),
  fc.constantFrom('bytes=0-1,3-4', 'bytes=-', 'bytes=a-b', 'items=0-5', '', 'bytes= 1-2', 'bytes=1-2-3'),
);

describe('byte ranges', () => {
  it('select exactly the bytes RFC 9110 says, for any header and any size', () => {
    fc.assert(
      fc.property(header, fc.nat(50), (h, size) => {
        const r = resolveRange(parseRange(h), size);
        const expected = reference(h, size);
        if (expected === 'ignore') expect(r).toEqual({ kind: 'whole' });
        else if (expected === 'unsatisfiable') expect(r).toEqual({ kind: 'unsatisfiable' });
        else expect(r).toEqual({ kind: 'bytes', start: expected[0], end: expected.at(-1) });
      }),
    );
  });
});
