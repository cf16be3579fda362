import { hash } from 'node:crypto';
import { invalid } from '../errors.js';

/**
 * The page token a client sees: S3's continuation token, untouched, bound to the folder it lists. A token
 * of another folder, or one a client made up, is refused with 400 instead of reaching S3, where some
 * servers would read it as a start key and answer a wrong page.
 */
const pageCheck = (prefix: string, token: string) => hash('sha256', `${prefix}\0${token}`, 'base64url').slice(0, 12);

export function sealPageToken(prefix: string, s3Token: string): string {
  return `${Buffer.from(s3Token, 'utf8').toString('base64url')}.${pageCheck(prefix, s3Token)}`;
}

/** The S3 token inside a page token; exactly the one the gateway sealed (no other spelling of it), else 400. */
export function openPageToken(prefix: string, page: string): string {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{12})$/.exec(page);
  const token = m ? Buffer.from(m[1]!, 'base64url').toString('utf8') : '';
  if (!m || sealPageToken(prefix, token) !== page) throw invalid('page', 'is not a page token of this listing');
  return token;
}
