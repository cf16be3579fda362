import { lookup as mimeLookup } from 'mime-types';

/** A file's content type, from its name: what S3 is told and downloads answer with. */
export const contentTypeOf = (name: string) => mimeLookup(name) || 'application/octet-stream';
