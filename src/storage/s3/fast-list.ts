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
const CONTENT_STRINGS = new Set(['Key', 'ETag', 'StorageClass']);
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
let lastDate = { text: '', ms: 0 };

/** As the SDK reads a timestamp of XML (RFC 3339); undefined for what only its own parser should judge. */
function date(s: string): Date | undefined {
  if (s === lastDate.text) return new Date(lastDate.ms);
  const m = RFC3339_UTC.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac] = m as unknown as [string, string, string, string, string, string, string, string | undefined];
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = frac !== undefined && Number(frac) ? Math.round(parseFloat(`0.${frac}`) * 1000) : 0;
  const out = new Date(Date.UTC(Number(y), month - 1, day, hour, minute, second, ms));
  out.setUTCFullYear(Number(y));
  lastDate = { text: s, ms: out.getTime() };
  return out;
}

/** A cursor over the document; every method answers false (or undefined) where the shape is not the expected one. */
class Reader {
  i = 0;
  constructor(readonly x: string) {}

  /** Skips text between elements; only whitespace may be there. */
  skipSpace(): boolean {
    const x = this.x;
    let i = this.i;
    while (i < x.length && (x[i] === ' ' || x[i] === '\n' || x[i] === '\t')) i++;
    this.i = i;
    return i < x.length && x[i] === '<';
  }

  /** At `<Name>` or `<Name/>` (no attributes): the name, and whether it closed itself. */
  openTag(): { name: string; empty: boolean } | undefined {
    const x = this.x;
    if (x[this.i] !== '<') return undefined;
    const c = x[this.i + 1];
    if (c === '/' || c === '!' || c === '?') return undefined;
    const end = x.indexOf('>', this.i);
    if (end < 0) return undefined;
    let name = x.slice(this.i + 1, end);
    const empty = name.endsWith('/');
    if (empty) name = name.slice(0, -1);
    if (name === '' || /[\s"'=/<]/.test(name)) return undefined;
    this.i = end + 1;
    return { name, empty };
  }

  /** The text of a leaf element up to its `</name>`, decoded; undefined when anything but text is inside. */
  text(name: string): string | undefined {
    const x = this.x;
    const lt = x.indexOf('<', this.i);
    if (lt < 0 || !x.startsWith(`</${name}>`, lt)) return undefined;
    const text = decode(x.slice(this.i, lt));
    this.i = lt + name.length + 3;
    // The SDK drops a whitespace-only text that holds a line break (it reads it as indentation).
    return text.includes('\n') && text.trim() === '' ? '' : text;
  }

  /** Skips to the end of an element whose content this reader does not need (no element of its name inside). */
  skipElement(name: string): boolean {
    const close = this.x.indexOf(`</${name}>`, this.i);
    if (close < 0) return false;
    const inner = this.x.slice(this.i, close);
    if (inner.includes(`<${name}>`) || inner.includes(`<${name} `) || inner.includes('<![CDATA[') || inner.includes('<!--')) return false;
    this.i = close + name.length + 3;
    return true;
  }

  closes(name: string): boolean {
    if (!this.x.startsWith(`</${name}>`, this.i)) return false;
    this.i += name.length + 3;
    return true;
  }
}

function content(r: Reader): Content | undefined {
  const out: Record<string, unknown> = {};
  for (;;) {
    if (!r.skipSpace()) return undefined;
    if (r.closes('Contents')) return out;
    const tag = r.openTag();
    if (!tag || tag.name in out) return undefined;
    if (CONTENT_STRINGS.has(tag.name) || tag.name === 'Size' || tag.name === 'LastModified') {
      const v = tag.empty ? '' : r.text(tag.name);
      if (v === undefined) return undefined;
      if (tag.name === 'Size') out.Size = Number(v);
      else if (tag.name === 'LastModified') {
        const d = date(v);
        if (!d) return undefined;
        out.LastModified = d;
      } else out[tag.name] = v;
    } else if (!tag.empty && !r.skipElement(tag.name)) return undefined;
  }
}

function commonPrefix(r: Reader): { Prefix?: string } | undefined {
  const out: { Prefix?: string } = {};
  for (;;) {
    if (!r.skipSpace()) return undefined;
    if (r.closes('CommonPrefixes')) return out;
    const tag = r.openTag();
    if (!tag) return undefined;
    if (tag.name === 'Prefix') {
      if (out.Prefix !== undefined) return undefined;
      const v = tag.empty ? '' : r.text('Prefix');
      if (v === undefined) return undefined;
      out.Prefix = v;
    } else if (!tag.empty && !r.skipElement(tag.name)) return undefined;
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
    const tag = r.openTag();
    if (!tag) return undefined;
    if (tag.name === 'Contents') {
      if (tag.empty) return undefined;
      const c = content(r);
      if (!c) return undefined;
      contents.push(c);
    } else if (tag.name === 'CommonPrefixes') {
      if (tag.empty) return undefined;
      const p = commonPrefix(r);
      if (!p) return undefined;
      prefixes.push(p);
    } else if (STRINGS.has(tag.name) || NUMBERS.has(tag.name) || tag.name === 'IsTruncated') {
      if (tag.name in out) return undefined;
      const v = tag.empty ? '' : r.text(tag.name);
      if (v === undefined) return undefined;
      out[tag.name] = NUMBERS.has(tag.name) ? Number(v) : tag.name === 'IsTruncated' ? v.toLowerCase() === 'true' : v;
    } else if (!tag.empty && !r.skipElement(tag.name)) return undefined;
  }
  // Only whitespace may follow the root.
  if (x.slice(r.i).trim() !== '') return undefined;
  if (contents.length) out.Contents = contents;
  if (prefixes.length) out.CommonPrefixes = prefixes;
  return out;
}
