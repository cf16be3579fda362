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

/** What the store keeps instead of a token: a fast hash is enough for 256-bit random values. */
export function tokenHash(token: string): string {
  return hash('sha256', token, 'base64url');
}

const SHAPE: Record<TokenKind, RegExp> = { access: /^gwa_[A-Za-z0-9_-]{43}$/, refresh: /^gwr_[A-Za-z0-9_-]{43}$/ };

/** Tokens of the wrong shape or kind are refused without a store round trip. */
export function looksLikeToken(value: string, kind: TokenKind): boolean {
  return SHAPE[kind].test(value);
}
