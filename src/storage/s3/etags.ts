/** ETags as S3 servers write them (quoted or not) and as HTTP conditions want them. Free of the SDK. */

/** An ETag's bare value: no quotes, no weak mark. */
export function unquoted(etag: string): string {
  // Called for every listed object: plain string tests, not regular expressions.
  const from = etag.startsWith('W/') ? 2 : 0;
  const start = etag.startsWith('"', from) ? from + 1 : from;
  const end = etag.length > start && etag.endsWith('"') ? etag.length - 1 : etag.length;
  return etag.slice(start, end);
}

/** An ETag as HTTP conditions want it: quoted. */
export const quoted = (etag: string) => `"${unquoted(etag)}"`;

/** Two ETags of the same version, whatever quoting each server uses. */
export const sameEtag = (a: string, b: string) => a !== '' && unquoted(a) === unquoted(b);

/** An ETag from an answer, or undefined where the server sent none or an empty one (`""`: Pydio Cells). */
export const knownEtag = (etag: string | undefined) => (etag !== undefined && unquoted(etag) !== '' ? etag : undefined);
