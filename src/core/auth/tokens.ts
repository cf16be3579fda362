import { hash, randomBytes } from 'node:crypto';

export type TokenKind = 'access' | 'refresh';

/**
 * A prefix per kind makes our tokens recognisable to secret scanners (and to our own log redaction),
 * and lets a refresh token sent as an access token be refused without a store round trip.
 */
const PREFIX: Record<TokenKind, string> = { access: 'gwa_', refresh: 'gwr_' };

/** Any token this gateway issues, wherever it appears in text. */
export const ISSUED_TOKEN = /gw[ar]_[A-Za-z0-9_-]{43}/g;

/** 256 random bits, URL-safe: the only form tokens ever have in the clear. */
export function newToken(kind: TokenKind): string {
  return PREFIX[kind] + randomBytes(32).toString('base64url');
}

/** Bytes of a session family's secret, the first half of each of its refresh tokens. */
export const FAMILY_SECRET_BYTES = 16;

/**
 * A refresh token of the family whose secret is `familySecret`: the secret, then 16 fresh random bytes.
 * Every refresh token of a family thus leads to the family (through the secret's hash, its id) without a
 * key per token in the store, so that a token rotated away still shows its reuse; the fresh half makes
 * each token different. Same shape as any other token: 256 bits, URL-safe.
 */
export function newRefreshToken(familySecret: Buffer): string {
  return PREFIX.refresh + Buffer.concat([familySecret, randomBytes(32 - FAMILY_SECRET_BYTES)]).toString('base64url');
}

/** The id of the family whose secret is `familySecret`: a hash, so the store never holds the secret. */
export function familyIdOf(familySecret: Buffer): string {
  return hash('sha256', familySecret, 'base64url');
}

/** The first half of a refresh token: its family's secret, if newRefreshToken made it (else bytes no family has). */
export function familySecretOf(refreshToken: string): Buffer {
  return Buffer.from(refreshToken.slice(PREFIX.refresh.length), 'base64url').subarray(0, FAMILY_SECRET_BYTES);
}

/** What the store keeps instead of a token: a fast hash is enough for 256-bit random values. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'base64url');
}

const SHAPE: Record<TokenKind, RegExp> = { access: /^gwa_[A-Za-z0-9_-]{43}$/, refresh: /^gwr_[A-Za-z0-9_-]{43}$/ };

/** Tokens of the wrong shape or kind are refused without a store round trip. */
export function looksLikeToken(value: string, kind: TokenKind): boolean {
  return SHAPE[kind].test(value);
}
