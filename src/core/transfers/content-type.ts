import { create as contentDisposition } from 'content-disposition';
import { lookup as mimeLookup } from 'mime-types';

/** A file's content type, from its name: what S3 is told and downloads answer with. */
export const contentTypeOf = (name: string) => mimeLookup(name) || 'application/octet-stream';

/**
 * `Content-Disposition: attachment` for a file: a browser that follows a download link saves the file
 * instead of rendering it in the gateway's origin; `filename*` (RFC 6266, RFC 8187) carries any name whole.
 */
export const attachmentOf = (key: string) => contentDisposition(key.slice(key.lastIndexOf('/') + 1));
