import { invalid } from '../../errors.js';
import { readSha256 } from './declarations.js';

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
 * there are no more than the server's parts. 400 naming the segment and field otherwise.
 */
export function planSegments(raw: unknown, total: number, limits: { segmentSize: number; maxParts: number }, field: string): SegmentPlan[] {
  const { segmentSize: size, maxParts } = limits;
  if (!Array.isArray(raw) || raw.length === 0) throw invalid(field, 'must be a non-empty list of segments');
  if (raw.length > maxParts) throw invalid(field, `has ${raw.length} segments; this S3 allows ${maxParts}`);
  const plan = raw.map((s: unknown, i) => {
    const seg = (s ?? {}) as Record<string, unknown>;
    const n = seg['gateway.upload.segment.number'];
    const bytes = seg['gateway.upload.segment.size'];
    const where = `${field}[${i}]`;
    if (n !== i + 1) throw invalid(`${where}.gateway.upload.segment.number`, `must be ${i + 1} (segments are numbered from 1, in order)`);
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw invalid(`${where}.gateway.upload.segment.size`, 'must be a whole number of bytes');
    const last = i === raw.length - 1;
    if (!last && bytes !== size) {
      throw invalid(`${where}.gateway.upload.segment.size`, `must be ${size} (gateway.upload.segment.size) for every segment but the last`);
    }
    if (last && (bytes > size || (bytes === 0 && raw.length > 1))) throw invalid(`${where}.gateway.upload.segment.size`, `must be between 1 and ${size} for the last segment`);
    const sum = readSha256(seg['gateway.upload.segment.sha256'], `${where}.gateway.upload.segment.sha256`);
    if (!sum) throw invalid(`${where}.gateway.upload.segment.sha256`, 'is required');
    return { number: i + 1, size: bytes, sha256: sum };
  });
  const sum = plan.reduce((a, s) => a + s.size, 0);
  if (sum !== total) throw invalid(field, `segment sizes add up to ${sum}, not the declared ${total} bytes`);
  return plan;
}
