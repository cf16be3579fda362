/** ETags as S3 servers write them (quoted or not) and as HTTP conditions want them. Free of the SDK. */

/** An ETag's bare value: no quotes, no weak mark. */
export const unquoted = (etag: string) => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

/** An ETag as HTTP conditions want it: quoted. */
export const quoted = (etag: string) => `"${unquoted(etag)}"`;

/** Two ETags of the same version, whatever quoting each server uses. */
export const sameEtag = (a: string, b: string) => a !== '' && unquoted(a) === unquoted(b);

/** An ETag from an answer, or undefined where the server sent none or an empty one (`""`: Pydio Cells). */
export const knownEtag = (etag: string | undefined) => (etag !== undefined && unquoted(etag) !== '' ? etag : undefined);
