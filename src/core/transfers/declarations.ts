import { invalid, type Field } from '../../errors.js';
import { S3_MAX_OBJECT_BYTES } from '../../storage/s3/limits.js';

/** What a client says about the bytes it sends, already checked. */
export interface FileDeclaration {
  modified: number;
  size: number;
  sha256: string | undefined;
}

/** A declaration as a client sent it, its fields found by meaning but not yet checked. */
export interface DeclarationInput {
  size?: unknown;
  modified?: unknown;
  sha256?: unknown;
}

export function readDeclaration(raw: DeclarationInput): FileDeclaration {
  const { size } = raw;
  if (size === undefined || size === null) throw invalid('size', 'is required');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid('size', 'must be a whole number of bytes');
  if (size > S3_MAX_OBJECT_BYTES) throw invalid('size', `must be at most ${S3_MAX_OBJECT_BYTES} bytes (S3's limit)`);
  return { size, modified: readModified(raw.modified) ?? Date.now(), sha256: readSha256(raw.sha256, 'sha256') };
}

/** A client's modification time (epoch milliseconds), when it gave one. */
export function readModified(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalid('modified', 'must be a positive integer (epoch milliseconds)');
  return value;
}

export function readSha256(value: unknown, field: Field, within?: { field: Field; index: number }): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) throw invalid(field, 'must be 64 hexadecimal characters', within);
  return value.toLowerCase();
}
