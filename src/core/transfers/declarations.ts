import { invalid } from '../../errors.js';
import { S3_MAX_OBJECT_BYTES } from '../../storage/s3/limits.js';

/** What a client says about the bytes it sends, already checked. */
export interface FileDeclaration {
  modified: number;
  size: number;
  sha256: string | undefined;
}

/** The request fields of a declaration, in the caller's dialect, for error messages. */
export interface DeclarationFields {
  name: string;
  modified: string;
  size: string;
  sha256: string;
}


export function readDeclaration(raw: Record<string, unknown>, f: DeclarationFields): FileDeclaration {
  const size = raw[f.size];
  if (size === undefined || size === null) throw invalid(f.size, 'is required');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(f.size, 'must be a whole number of bytes');
  if (size > S3_MAX_OBJECT_BYTES) throw invalid(f.size, `must be at most ${S3_MAX_OBJECT_BYTES} bytes (S3's limit)`);
  const modified = raw[f.modified];
  if (modified !== undefined && modified !== null && (typeof modified !== 'number' || !Number.isSafeInteger(modified) || modified <= 0)) {
    throw invalid(f.modified, 'must be a positive integer (epoch milliseconds)');
  }
  return { size, modified: (modified as number | undefined) ?? Date.now(), sha256: readSha256(raw[f.sha256], f.sha256) };
}

export function readSha256(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) throw invalid(field, 'must be 64 hexadecimal characters');
  return value.toLowerCase();
}
