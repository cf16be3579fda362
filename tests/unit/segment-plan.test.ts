import fc from 'fast-check';
import { planSegments } from '../../src/core/transfers/segment-plan.js';
import { fieldPath, GatewayError } from '../../src/errors.js';

const SIZE = 5;
const sha = 'ab'.repeat(32);
const segment = (n: number, size: number, sha256: unknown = sha): { number: unknown; size: unknown; sha256: unknown } => ({ number: n, size, sha256 });
const limits = { segmentSize: SIZE, maxParts: 20 };
const fieldOf = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return err instanceof GatewayError && err.kind === 'invalid' && err.about ? fieldPath(err.about) : 'thrown';
  }
};

/** A valid plan for a file of `total` bytes. */
const validPlan = (total: number) => {
  const count = Math.max(1, Math.ceil(total / SIZE));
  return Array.from({ length: count }, (_, i) => segment(i + 1, i < count - 1 ? SIZE : total - SIZE * (count - 1)));
};

describe('segment plans', () => {
  it('take every plan of full segments and a last one of 1 to the segment size that adds up to the file', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: SIZE * 20 }), (total) => {
        const plan = planSegments(validPlan(total), total, limits);
        expect(plan.map((p) => p.size).reduce((a, b) => a + b, 0)).toBe(total);
        expect(plan.map((p) => p.number)).toEqual(plan.map((_, i) => i + 1));
      }),
    );
  });

  it('refuse each broken rule, naming the segment and its field', () => {
    fc.assert(
      fc.property(fc.integer({ min: SIZE + 1, max: SIZE * 20 }), fc.nat(), (total, pick) => {
        const plan = validPlan(total);
        const i = pick % plan.length;
        const where = `segments[${i}]`;
        const broken = (change: (p: ReturnType<typeof segment>[]) => void) => {
          const copy = plan.map((s) => ({ ...s }));
          change(copy);
          return fieldOf(() => planSegments(copy, total, limits));
        };
        expect(broken((p) => (p[i]!.number = i + 2))).toBe(`${where}.segmentNumber`);
        expect(broken((p) => (p[i]!.sha256 = undefined))).toBe(`${where}.segmentSha256`);
        expect(broken((p) => (p[i]!.sha256 = 'not hex'))).toBe(`${where}.segmentSha256`);
        expect(broken((p) => (p[i]!.size = -1))).toBe(`${where}.segmentSize`);
        if (i < plan.length - 1) expect(broken((p) => (p[i]!.size = SIZE - 1))).toBe(`${where}.segmentSize`);
        else expect(broken((p) => (p[i]!.size = SIZE + 1))).toBe(`${where}.segmentSize`);
        expect(fieldOf(() => planSegments(plan, total + 1, limits))).toBe('segments');
      }),
    );
    expect(fieldOf(() => planSegments([], 0, limits))).toBe('segments');
    expect(fieldOf(() => planSegments(undefined, 0, limits))).toBe('segments');
    expect(fieldOf(() => planSegments(validPlan(SIZE * 21), SIZE * 21, limits))).toBe('segments');
    expect(fieldOf(() => planSegments([segment(1, 5), segment(2, 0)], 5, limits))).toBe('segments[1].segmentSize');
  });
});
