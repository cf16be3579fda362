import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, URL-safe: the only form tokens ever have in the clear. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the store keeps instead of a token: a fast hash is enough for 256-bit random values. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Tokens of the wrong shape are refused without a store round trip. */
export function looksLikeToken(value: string): boolean {
  return TOKEN_SHAPE.test(value);
}
