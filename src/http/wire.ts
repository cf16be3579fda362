import type { Entry } from '../core/file-system.js';
import type { DeclarationInput } from '../core/transfers/declarations.js';
import type { SegmentPlan, SegmentInput } from '../core/transfers/segment-plan.js';
import type { SegmentHeader, StartedUpload } from '../core/transfers/segmented-uploads.js';
import { fieldPath, type Field, type GatewayError } from '../errors.js';
import { FINAL, type Dialect, type Name } from './dialects.js';

/**
 * Between a dialect's wire names and core's meanings, both ways: requests are read into values keyed by
 * meaning, and entries, uploads and errors are written with the dialect's names.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A meaning's name in this dialect; sign-in form fields keep the name their form publishes. */
export function wireName(d: Dialect, field: Field | Name): string {
  if (field.startsWith('form.')) return field.slice('form.'.length);
  return d.fields[field as Name] ?? field;
}

/** The values a request gives for these meanings (absent when the dialect has no name for one). */
export function readFields<M extends Name>(d: Dialect, source: Json, meanings: readonly M[]): { [K in M]?: unknown } {
  const out: { [K in M]?: unknown } = {};
  for (const m of meanings) {
    const name = d.fields[m];
    if (name !== undefined) out[m] = source[name];
  }
  return out;
}

export function readDeclarationInput(d: Dialect, source: Json): DeclarationInput {
  return readFields(d, source, ['size', 'modified', 'sha256']);
}

/** A segment plan's list; undefined when the client sent no list (core says what is wrong). */
export function readSegmentPlan(d: Dialect, source: Json): SegmentInput[] | undefined {
  const list = source[wireName(d, 'segments')];
  if (!Array.isArray(list)) return undefined;
  return list.map((s: unknown) => (isObject(s) ? readSegment(d, s) : {}));
}

function readSegment(d: Dialect, s: Json): SegmentInput {
  const f = readFields(d, s, ['segmentNumber', 'segmentSize', 'segmentSha256']);
  return { number: f.segmentNumber, size: f.segmentSize, sha256: f.segmentSha256 };
}

export function readSegmentHeader(d: Dialect, header: Json): SegmentHeader {
  return { ...readSegment(d, header), cookie: header[wireName(d, 'cookie')] };
}

type EntryWriter = (e: Entry) => Record<string, string | number>;
const entryWriters = new WeakMap<Dialect, EntryWriter>();

/** A file or folder; meanings the dialect does not name (the seed dialect's parent id) are left out. */
export function entryJson(d: Dialect, e: Entry): Record<string, string | number> {
  let write = entryWriters.get(d);
  if (!write) entryWriters.set(d, (write = entryWriter(d)));
  return write(e);
}

/** The dialect's names looked up once: a listing writes thousands of entries with them. */
function entryWriter(d: Dialect): EntryWriter {
  const { fileId, parentId, type, name, modified, size, hash } = d.fields;
  return (e) => {
    const out: Record<string, string | number> = {};
    if (fileId !== undefined) out[fileId] = e.id;
    if (parentId !== undefined) out[parentId] = e.parentId;
    if (type !== undefined) out[type] = e.type;
    if (name !== undefined) out[name] = e.name;
    if (modified !== undefined) out[modified] = e.modified;
    if (e.type === 'file') {
      if (size !== undefined) out[size] = e.size ?? 0;
      if (hash !== undefined) out[hash] = e.hash ?? '';
    }
    return out;
  };
}

/**
 * A listing's answer as JSON text. V8's JSON.stringify writes plain objects of one shape into one flat
 * string; building the text by hand made a chain of small strings per entry, and measured slower
 * (a 100-entry answer: 74 µs against 120, with the Buffer the response becomes).
 */
export function entriesJsonText(d: Dialect, entries: Entry[]): string {
  return JSON.stringify(entries.map((e) => entryJson(d, e)));
}

export function segmentJson(d: Dialect, seg: SegmentPlan & { cookie: string }): Json {
  return {
    [wireName(d, 'segmentNumber')]: seg.number,
    [wireName(d, 'segmentSize')]: seg.size,
    [wireName(d, 'segmentSha256')]: seg.sha256,
    [wireName(d, 'segmentCookie')]: seg.cookie,
  };
}

export function startedUploadJson(d: Dialect, started: StartedUpload): Json {
  return {
    [wireName(d, 'uploadId')]: started.id,
    [wireName(d, 'cookie')]: started.cookie,
    [wireName(d, 'expiration')]: started.expiresAt,
    [wireName(d, 'segments')]: started.segments.map((s) => segmentJson(d, s)),
  };
}

/** An error's field and message in the dialect's names (`gateway.upload.segment[2].gateway.upload.segment.size: …`). */
export function errorInDialect(d: Dialect = FINAL, err: GatewayError): { field?: string; message: string } {
  if (!err.about) return { message: err.message };
  const field = fieldPath(err.about, (f) => wireName(d, f));
  return { field, message: `${field}: ${err.about.problem}` };
}
