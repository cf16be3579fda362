import { invalid } from '../../errors.js';
import { readSha256 } from './declarations.js';

/** One segment of a plan as a client sent it, its fields found by meaning but not yet checked. */
export interface SegmentInput {
  number?: unknown;
  size?: unknown;
  sha256?: unknown;
}

/** One segment of a large upload, as planned when it starts. */
export interface SegmentPlan {
  number: number;
  size: number;
  sha256: string;
}

/**
 * A client's segment list, checked: numbers run 1..N in order, every segment but the last has exactly
 * the segment size (some servers refuse multipart uploads of unequal parts), the last is between 1 and it
 * (0 only for a one-segment empty file), each declares its sha256, the sizes add up to the file's, and
 * there are no more than the server's parts. 400 naming the segment and field otherwise. `segments` is
 * undefined when the client sent no list.
 */
export function planSegments(segments: readonly SegmentInput[] | undefined, total: number, limits: { segmentSize: number; maxParts: number }): SegmentPlan[] {
  const { segmentSize: size, maxParts } = limits;
  if (!segments || segments.length === 0) throw invalid('segments', 'must be a non-empty list of segments');
  if (segments.length > maxParts) throw invalid('segments', `has ${segments.length} segments; this S3 allows ${maxParts}`);
  const plan = segments.map((seg, i) => {
    const within = { field: 'segments', index: i } as const;
    const { number: n, size: bytes } = seg;
    if (n !== i + 1) throw invalid('segmentNumber', `must be ${i + 1} (segments are numbered from 1, in order)`, within);
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw invalid('segmentSize', 'must be a whole number of bytes', within);
    const last = i === segments.length - 1;
    if (!last && bytes !== size) throw invalid('segmentSize', `must be ${size} (the segment size announced at sign-in) for every segment but the last`, within);
    if (last && (bytes > size || (bytes === 0 && segments.length > 1)))
      throw invalid('segmentSize', `must be between 1 and ${size} for the last segment`, within);
    const sum = readSha256(seg.sha256, 'segmentSha256', within);
    if (!sum) throw invalid('segmentSha256', 'is required', within);
    return { number: i + 1, size: bytes, sha256: sum };
  });
  const sum = plan.reduce((a, s) => a + s.size, 0);
  if (sum !== total) throw invalid('segments', `segment sizes add up to ${sum}, not the declared ${total} bytes`);
  return plan;
}
