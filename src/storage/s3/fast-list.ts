import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';

/**
 * A purpose-built reader of ListObjectsV2's answer, the gateway's hottest S3 call: the SDK's generic XML
 * parser builds every string a character at a time, then its schema walker visits each member, and on a
 * listing that is most of the gateway's CPU. This reads the same document in a few `indexOf`s and gives
 * what the SDK gives for every member it reads (see tests/unit/fast-list.test.ts, which holds the two to
 * one answer on the same bytes). Anything it does not expect (attributes, CDATA, comments, an element
 * twice, a date in another form) makes it answer undefined: the SDK then reads the document itself, so
 * its answer, or its error, is exactly the SDK's.
 */

type Output = Omit<ListObjectsV2CommandOutput, '$metadata'>;
type Content = NonNullable<Output['Contents']>[number];

const NUMBERS = new Set(['MaxKeys', 'KeyCount']);
const STRINGS = new Set(['Name', 'Prefix', 'Delimiter', 'ContinuationToken', 'NextContinuationToken', 'StartAfter', 'EncodingType']);
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const ENTITY = /&(?:#x([0-9a-fA-F]{1,6})|#(\d{1,7})|([a-zA-Z][a-zA-Z0-9]{0,30}));/g;
const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})[tT](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?[zZ]$/;

/** As the SDK's XML parser decodes text (String.fromCharCode, unknown names dropped). */
function decode(s: string): string {
  if (!s.includes('&')) return s;
  // An ETag: "…" as &quot;…&quot;, on every object.
  if (s.startsWith('&quot;') && s.endsWith('&quot;') && s.length >= 12 && s.indexOf('&', 6) === s.length - 6) return `"${s.slice(6, -6)}"`;
  return s.replace(ENTITY, (_, hex?: string, dec?: string, named?: string) => {
    if (hex) return String.fromCharCode(parseInt(hex, 16));
    if (dec) return String.fromCharCode(parseInt(dec, 10));
    return ENTITIES[named!] ?? '';
  });
}

/** The last timestamp read: objects written together share it, and a page often has many of them. */
let lastDateText = '';
let lastDateMs = 0;

/** A digit's value at `i`, or NaN. */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : NaN;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ`, the form every S3 server writes, read without a regular expression; NaN otherwise. */
function commonDateMs(s: string): number {
  if (s.length !== 24 || s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':' || s[19] !== '.' || s[23] !== 'Z') return NaN;
  const n = (i: number, len: number) => {
    let v = 0;
    for (let k = i; k < i + len; k++) v = v * 10 + digit(s, k);
    return v;
  };
  const year = n(0, 4);
  const month = n(5, 2);
  const day = n(8, 2);
  const hour = n(11, 2);
  const minute = n(14, 2);
  const second = n(17, 2);
  const ms = n(20, 3);
  // Out of these ranges (or a NaN), the general reading below decides, as the SDK would.
  if (!(year >= 100 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 59 && ms >= 0)) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** As the SDK reads a timestamp of XML (RFC 3339); undefined for what only its own parser should judge. */
function date(s: string): Date | undefined {
  if (s === lastDateText) return new Date(lastDateMs);
  let ms = commonDateMs(s);
  if (Number.isNaN(ms)) {
    const m = RFC3339_UTC.exec(s);
    if (!m) return undefined;
    const [, y, mo, d, h, mi, sec, frac] = m as unknown as [string, string, string, string, string, string, string, string | undefined];
    const month = Number(mo);
    const day = Number(d);
    const hour = Number(h);
    const minute = Number(mi);
    const second = Number(sec);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
    const fraction = frac !== undefined && Number(frac) ? Math.round(parseFloat(`0.${frac}`) * 1000) : 0;
    const out = new Date(Date.UTC(Number(y), month - 1, day, hour, minute, second, fraction));
    out.setUTCFullYear(Number(y));
    ms = out.getTime();
  }
  lastDateText = s;
  lastDateMs = ms;
  return new Date(ms);
}

/** Bits of the members content() reads, to see one given twice (the SDK's answer for that is its own to give). */
const MEMBER_BIT = new Map([
  ['Key', 1],
  ['ETag', 2],
  ['StorageClass', 4],
  ['Size', 8],
  ['LastModified', 16],
]);

/** `</Name>` for each element name seen, made once rather than on every element. */
const closeTags = new Map<string, string>();
function closeTag(name: string): string {
  let tag = closeTags.get(name);
  if (tag === undefined) {
    tag = `</${name}>`;
    if (closeTags.size < 256) closeTags.set(name, tag);
  }
  return tag;
}

/** `<Name`, likewise. */
const openTagPrefixes = new Map<string, string>();
function openTagPrefix(name: string): string {
  let tag = openTagPrefixes.get(name);
  if (tag === undefined) {
    tag = `<${name}`;
    if (openTagPrefixes.size < 256) openTagPrefixes.set(name, tag);
  }
  return tag;
}

/** Element names this reader knows: they need no check for characters a plain name cannot hold. */
const KNOWN = new Set([...NUMBERS, ...STRINGS, ...MEMBER_BIT.keys(), 'IsTruncated', 'Contents', 'CommonPrefixes', 'Owner']);
const NOT_A_PLAIN_NAME = /[\s"'=/<]/;

/** A cursor over the document; every method answers false (or undefined) where the shape is not the expected one. */
class Reader {
  i = 0;
  /** Whether the tag openTag read last closed itself (`<Name/>`). */
  empty = false;
  constructor(readonly x: string) {}

  /** Skips text between elements; only whitespace may be there. */
  skipSpace(): boolean {
    const x = this.x;
    let i = this.i;
    let c = x.charCodeAt(i);
    while (c === 32 || c === 10 || c === 9) c = x.charCodeAt(++i);
    this.i = i;
    return c === 60; // '<'
  }

  /** At `<Name>` or `<Name/>` (no attributes): the name (and `empty`, whether it closed itself). */
  openTag(): string | undefined {
    const x = this.x;
    const c = x.charCodeAt(this.i + 1);
    if (c === 47 || c === 33 || c === 63) return undefined; // '/', '!', '?'
    const end = x.indexOf('>', this.i);
    if (end < 0) return undefined;
    this.empty = x.charCodeAt(end - 1) === 47;
    const name = x.slice(this.i + 1, this.empty ? end - 1 : end);
    if (name === '' || (!KNOWN.has(name) && NOT_A_PLAIN_NAME.test(name))) return undefined;
    this.i = end + 1;
    return name;
  }

  /** The text of a leaf element up to its `</name>`, decoded; undefined when anything but text is inside. */
  text(name: string): string | undefined {
    const x = this.x;
    const lt = x.indexOf('<', this.i);
    const close = closeTag(name);
    if (lt < 0 || !x.startsWith(close, lt)) return undefined;
    const text = decode(x.slice(this.i, lt));
    this.i = lt + close.length;
    // The SDK drops a whitespace-only text that holds a line break (it reads it as indentation).
    return text.includes('\n') && text.trim() === '' ? '' : text;
  }

  /** Skips to the end of an element whose content this reader does not need (no element of its name inside). */
  skipElement(name: string): boolean {
    const x = this.x;
    const close = x.indexOf(closeTag(name), this.i);
    if (close < 0) return false;
    // Inside, no element of the same name, no CDATA and no comment (each '<' up to the end tag looked at).
    const open = openTagPrefix(name);
    for (let lt = x.indexOf('<', this.i); lt >= 0 && lt < close; lt = x.indexOf('<', lt + 1)) {
      if (x.charCodeAt(lt + 1) === 33 || x.startsWith(open, lt)) return false;
    }
    this.i = close + name.length + 3;
    return true;
  }

  closes(name: string): boolean {
    const close = closeTag(name);
    if (!this.x.startsWith(close, this.i)) return false;
    this.i += close.length;
    return true;
  }
}

/** One `<Contents>`: its members in locals (a fixed shape is much cheaper than a keyed record). */
function content(r: Reader): Content | undefined {
  let key: string | undefined;
  let etag: string | undefined;
  let storageClass: string | undefined;
  let size: number | undefined;
  let modified: Date | undefined;
  let seen = 0;
  for (;;) {
    if (!r.skipSpace()) return undefined;
    if (r.closes('Contents')) break;
    const name = r.openTag();
    if (!name) return undefined;
    const bit = MEMBER_BIT.get(name);
    if (bit === undefined) {
      if (!r.empty && !r.skipElement(name)) return undefined;
      continue;
    }
    if (seen & bit) return undefined;
    seen |= bit;
    const v = r.empty ? '' : r.text(name);
    if (v === undefined) return undefined;
    if (bit === 1) key = v;
    else if (bit === 2) etag = v;
    else if (bit === 4) storageClass = v;
    else if (bit === 8) size = Number(v);
    else {
      modified = date(v);
      if (!modified) return undefined;
    }
  }
  const out: Content = {};
  if (key !== undefined) out.Key = key;
  if (modified !== undefined) out.LastModified = modified;
  if (etag !== undefined) out.ETag = etag;
  if (size !== undefined) out.Size = size;
  if (storageClass !== undefined) out.StorageClass = storageClass as Content['StorageClass'];
  return out;
}

function commonPrefix(r: Reader): { Prefix?: string } | undefined {
  const out: { Prefix?: string } = {};
  for (;;) {
    if (!r.skipSpace()) return undefined;
    if (r.closes('CommonPrefixes')) return out;
    const name = r.openTag();
    if (!name) return undefined;
    if (name === 'Prefix') {
      if (out.Prefix !== undefined) return undefined;
      const v = r.empty ? '' : r.text('Prefix');
      if (v === undefined) return undefined;
      out.Prefix = v;
    } else if (!r.empty && !r.skipElement(name)) return undefined;
  }
}

/** Reads a ListObjectsV2 answer's XML; undefined where the SDK should read it instead. */
export function parseListObjectsV2(document: string): Output | undefined {
  const x = document.includes('\r') ? document.replace(/\r\n?/g, '\n') : document;
  const r = new Reader(x);
  // The prolog: an XML declaration, then the root element.
  if (!r.skipSpace()) return undefined;
  if (x.startsWith('<?', r.i)) {
    const end = x.indexOf('?>', r.i);
    if (end < 0) return undefined;
    r.i = end + 2;
    if (!r.skipSpace()) return undefined;
  }
  if (!x.startsWith('<ListBucketResult', r.i)) return undefined;
  const rootEnd = x.indexOf('>', r.i);
  if (rootEnd < 0 || x[rootEnd - 1] === '/') return undefined;
  r.i = rootEnd + 1;

  const out: Record<string, unknown> = {};
  const contents: Content[] = [];
  const prefixes: Array<{ Prefix?: string }> = [];
  for (;;) {
    if (!r.skipSpace()) return undefined;
    if (r.closes('ListBucketResult')) break;
    const name = r.openTag();
    if (!name) return undefined;
    if (name === 'Contents') {
      if (r.empty) return undefined;
      const c = content(r);
      if (!c) return undefined;
      contents.push(c);
    } else if (name === 'CommonPrefixes') {
      if (r.empty) return undefined;
      const p = commonPrefix(r);
      if (!p) return undefined;
      prefixes.push(p);
    } else if (STRINGS.has(name) || NUMBERS.has(name) || name === 'IsTruncated') {
      if (name in out) return undefined;
      const v = r.empty ? '' : r.text(name);
      if (v === undefined) return undefined;
      out[name] = NUMBERS.has(name) ? Number(v) : name === 'IsTruncated' ? v.toLowerCase() === 'true' : v;
    } else if (!r.empty && !r.skipElement(name)) return undefined;
  }
  // Only whitespace may follow the root.
  if (x.slice(r.i).trim() !== '') return undefined;
  if (contents.length) out.Contents = contents;
  if (prefixes.length) out.CommonPrefixes = prefixes;
  return out;
}
