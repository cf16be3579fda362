import { Readable } from 'node:stream';

/**
 * A client of the final dialect of the Gateway API v2, as any gateway speaks it (not only ours). Every
 * answer is read as odrive's published spec defines it: what a route's answer must carry is required,
 * everything else optional. Where the shell needs more than an answer carries, it asks again (a get-entry,
 * a listing of the parent) or makes do with what its own request said; extras (byte ranges, thumbnails,
 * segmented uploads, refresh tokens) are used when offered and done without when not.
 */

export type Json = Record<string, unknown>;

export interface Entry {
  id: string;
  parentId: string | undefined;
  type: 'file' | 'folder';
  name: string;
  /** Epoch ms; 0 when the gateway did not say. */
  modified: number;
  size: number | undefined;
  hash: string | undefined;
}

export interface Tokens {
  accessToken: string;
  /** Absent when the gateway gives none: the session then ends with its access token. */
  refreshToken?: string | undefined;
}

export interface SignedIn extends Tokens {
  rootId: string;
  authId: string | undefined;
  segmentSize: number | undefined;
}

export interface FormField {
  name: string;
  prompt: string;
  required: boolean;
}

export interface SegmentState {
  number: number;
  size: number;
  sha256: string;
  cookie: string;
}

export interface StartedUpload {
  id: string;
  cookie: string;
  expiresAt: number;
  segments: SegmentState[];
}

/** A new file in a folder, or a new version of a file. */
export type UploadTarget = { parentId: string; name: string } | { existing: Entry };

/** An answer of the gateway that is not a success, as one line a person can act on. */
export class GatewayCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- reading answers

const text = (j: Json, key: string): string | undefined => (typeof j[key] === 'string' ? j[key] : undefined);

/** A count the gateway sent (epoch ms, bytes), as a JSON number or as digits. */
function count(j: Json, key: string): number | undefined {
  const v = j[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/**
 * What one answer says about an entry, and nothing more: odrive's spec lets each route's answer carry
 * different properties (a rename answer only id and name, a move answer only id and parent id).
 */
export function factsOf(j: Json): Partial<Entry> {
  const type = j['gateway.metadata.type'];
  return defined({
    id: text(j, 'gateway.metadata.id'),
    parentId: text(j, 'gateway.metadata.parent.id'),
    type: type === 'file' || type === 'folder' ? type : undefined,
    name: text(j, 'gateway.metadata.name'),
    modified: count(j, 'gateway.metadata.modified'),
    size: count(j, 'gateway.metadata.file.size'),
    hash: text(j, 'gateway.metadata.file.hash') || undefined,
  });
}

/**
 * An entry from facts that hold at least id, type and name, which the shell cannot do without (a listing
 * shows and finds entries by them); the rest stays unknown when the gateway does not say it.
 */
function entryFrom(f: Partial<Entry>, what: string): Entry {
  const { id, type, name } = f;
  if (id === undefined || type === undefined || name === undefined) {
    const missing = [id === undefined && 'id', type === undefined && 'type', name === undefined && 'name'].filter(Boolean).map((k) => `gateway.metadata.${k}`);
    throw new GatewayCallError(0, `${what}: the gateway's answer has no ${missing.join(', ')}`);
  }
  return { id, parentId: f.parentId, type, name, modified: f.modified ?? 0, size: f.size, hash: f.hash };
}

/** An entry of a listing: the folder listed is its parent when it does not say. */
export function listedEntry(j: Json, folderId: string): Entry {
  return entryFrom({ parentId: folderId, ...factsOf(j) }, 'list folder');
}

/** True when facts hold everything the shell shows and uses of an entry (a hash is optional everywhere). */
function whole(f: Partial<Entry>): boolean {
  return (
    f.id !== undefined &&
    f.type !== undefined &&
    f.name !== undefined &&
    f.parentId !== undefined &&
    f.modified !== undefined &&
    (f.type === 'folder' || f.size !== undefined)
  );
}

/** What a write should have made, as far as its request says: the last resort when the gateway says less. */
export interface Expected {
  parentId: string | undefined;
  type: 'file' | 'folder';
  name: string;
  modified?: number | undefined;
  size?: number | undefined;
  hash?: string | undefined;
}

/** The answer of a sign-in: an access token and the root folder are required, the rest optional. */
export function signedInOf(b: Json): SignedIn {
  const accessToken = text(b, 'gateway.auth.access.token');
  // odrive's published spec and its example client name the root gateway.auth.metadata.id; earlier
  // versions of the spec, gateway.auth.metadata.content.id.
  const rootId = text(b, 'gateway.auth.metadata.id') ?? text(b, 'gateway.auth.metadata.content.id');
  if (!accessToken) throw new GatewayCallError(0, "sign in: the gateway's answer has no gateway.auth.access.token");
  if (rootId === undefined) throw new GatewayCallError(0, "sign in: the gateway's answer names no root folder (gateway.auth.metadata.id)");
  const segment = count(b, 'gateway.upload.segment.size');
  return {
    accessToken,
    refreshToken: text(b, 'gateway.auth.refresh.token') || undefined,
    rootId,
    authId: text(b, 'gateway.auth.id'),
    segmentSize: segment ? segment : undefined,
  };
}

/** The answer of a refresh; a gateway that answers no new refresh token keeps the one it gave. */
export function refreshedOf(b: Json, stale: Tokens): Tokens {
  const accessToken = text(b, 'gateway.auth.access.token');
  if (!accessToken) throw new GatewayCallError(401, "refresh the session: the gateway's answer has no gateway.auth.access.token (sign in again: mounts add)");
  return { accessToken, refreshToken: text(b, 'gateway.auth.refresh.token') || stale.refreshToken };
}

const segmentJson = (s: SegmentState) => ({
  'gateway.upload.segment.number': s.number,
  'gateway.upload.segment.size': s.size,
  'gateway.upload.segment.sha256': s.sha256,
  'gateway.upload.segment.cookie': s.cookie,
});

/** What an answer says about a segment; the rest stays as planned. */
function segmentFacts(j: Json): Partial<SegmentState> {
  return defined({
    number: count(j, 'gateway.upload.segment.number'),
    size: count(j, 'gateway.upload.segment.size'),
    sha256: text(j, 'gateway.upload.segment.sha256'),
    cookie: text(j, 'gateway.upload.segment.cookie'),
  });
}

/** A JSON answer, or one line saying that it is not JSON. */
async function jsonOf(res: Response, what: string): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new GatewayCallError(0, `${what}: the gateway's answer is not JSON`);
  }
}

async function objectOf(res: Response, what: string): Promise<Json> {
  const body = await jsonOf(res, what);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayCallError(0, `${what}: the gateway's answer is not a JSON object`);
  return body as Json;
}

async function failure(res: Response, what: string): Promise<GatewayCallError> {
  const detail = detailOf(await res.text().catch(() => ''));
  return new GatewayCallError(res.status, `${what}: ${res.status} ${detail || res.statusText}`.trimEnd());
}

/**
 * The message of an error answer, on one line: a JSON body's `message` (the spec sets no error shape, this
 * gateway's has one), else a short plain-text body; the status says enough otherwise (an HTML page, nothing).
 */
export function detailOf(body: string): string {
  let line: string;
  try {
    const j = JSON.parse(body) as unknown;
    line = typeof j === 'object' && j !== null && typeof (j as Json).message === 'string' ? ((j as Json).message as string) : '';
  } catch {
    line = /^[^<]{1,200}$/.test(body.trim()) ? body : '';
  }
  return line.replace(/\s+/g, ' ').trim();
}

async function send(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new GatewayCallError(0, `${what}: cannot reach ${new URL(url).origin} (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
}

/** A request body that can be made again, so that a call can be repeated after a token refresh. */
export type BodySource = () => Promise<{ body: Readable | string; length?: number }> | { body: Readable | string; length?: number };

/**
 * Keeps a session's tokens where every process of the shell finds them. Refresh tokens are single-use and a
 * second use ends the whole session, so two processes must never refresh the same pair: `renew` gives the
 * tokens another process already got, or refreshes (one process at a time) and keeps the result.
 */
export interface TokenKeeper {
  renew(stale: Tokens, refresh: (stale: Tokens) => Promise<Tokens>): Promise<Tokens>;
}

export class GatewayClient {
  constructor(
    readonly baseUrl: string,
    private tokens: Tokens,
    private readonly keeper: TokenKeeper,
  ) {}

  // ---------------------------------------------------------------- sign-in (no session yet)

  static async authMethod(
    baseUrl: string,
  ): Promise<{ method: 'form'; fields: FormField[] } | { method: 'oauth'; url: string; state: string } | { method: string }> {
    const res = await send(`${baseUrl}/v2/gateway_auth_method`, {}, 'sign-in method');
    if (!res.ok) throw await failure(res, 'sign-in method');
    const body = await objectOf(res, 'sign-in method');
    if (body['gateway.auth.method'] === 'oauth') {
      const url = text(body, 'gateway.auth.oauth.url');
      const state = text(body, 'gateway.auth.oauth.state');
      if (!url || !state) throw new GatewayCallError(0, "sign-in method: the gateway's oauth answer lacks gateway.auth.oauth.url or .state");
      return { method: 'oauth', url, state };
    }
    if (body['gateway.auth.method'] !== 'form') return { method: String(body['gateway.auth.method']) };
    const form = Array.isArray(body['gateway.auth.form']) ? (body['gateway.auth.form'] as Json[]) : [];
    const fields = form
      .filter((f) => typeof f['gateway.auth.form.input.field.name'] === 'string')
      .map((f) => ({
        name: String(f['gateway.auth.form.input.field.name']),
        prompt: String(f['gateway.auth.form.input.field.prompt'] ?? f['gateway.auth.form.input.field.name']),
        required: f['gateway.auth.form.input.field.required'] !== false,
        order: Number(f['gateway.auth.form.input.field.order'] ?? 0) || 0,
      }))
      .sort((a, b) => a.order - b.order)
      .map(({ order: _order, ...f }) => f);
    return { method: 'form', fields };
  }

  static async signIn(baseUrl: string, fields: Record<string, string>): Promise<SignedIn> {
    const res = await send(
      `${baseUrl}/v2/gateway_auth`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(fields) },
      'sign in',
    );
    if (!res.ok) throw await failure(res, 'sign in');
    return signedInOf(await objectOf(res, 'sign in'));
  }

  /** Collects an oauth sign-in with its state: the tokens once the person signed in, else the gateway's refusal (GatewayCallError). */
  static async collectOAuth(baseUrl: string, state: string): Promise<SignedIn> {
    return GatewayClient.signIn(baseUrl, { 'gateway.auth.oauth.state': state });
  }

  async signOut(): Promise<void> {
    await send(`${this.baseUrl}/v2/gateway_auth/${encodeURIComponent(this.tokens.accessToken)}`, { method: 'DELETE' }, 'sign out');
  }

  // ---------------------------------------------------------------- the session's calls

  /**
   * One call with the access token; on 401, one refresh (which rotates both tokens) and the call again.
   * A gateway may refuse an expired token before reading a streamed body and close the connection, which
   * reaches us as a network error rather than a 401: such calls are refreshed and repeated once too.
   * `anyStatus` returns the answer whatever its status (for the probes of `diagnostic`).
   */
  async call(
    method: string,
    route: string,
    what: string,
    opts: { json?: Json; headers?: Record<string, string>; body?: BodySource; anyStatus?: boolean } = {},
  ): Promise<Response> {
    const attempt = async () => {
      const headers: Record<string, string> = { Authorization: `Bearer ${this.tokens.accessToken}`, ...opts.headers };
      let body: RequestInit['body'];
      if (opts.json) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.json);
      } else if (opts.body) {
        const made = await opts.body();
        if (made.length !== undefined) headers['Content-Length'] = String(made.length);
        body = typeof made.body === 'string' ? made.body : (Readable.toWeb(made.body) as ReadableStream<Uint8Array>);
      }
      return send(`${this.baseUrl}${route}`, { method, headers, body, ...(body && typeof body !== 'string' ? { duplex: 'half' } : {}) }, what);
    };
    let res: Response;
    try {
      res = await attempt();
    } catch (err) {
      if (!opts.body || !(err instanceof GatewayCallError)) throw err;
      await this.refresh(err);
      res = await attempt();
    }
    if (res.status === 401) {
      await this.refresh(await failure(res, what));
      res = await attempt();
    }
    if (!res.ok && !opts.anyStatus) throw await failure(res, what);
    return res;
  }

  /** New tokens after `cause` (a 401, or a connection closed on a streamed body); without a refresh token, `cause` stands. */
  private async refresh(cause: GatewayCallError): Promise<void> {
    this.tokens = await this.keeper.renew(this.tokens, async (stale) => {
      if (!stale.refreshToken) {
        // Nothing can renew this session: say so rather than "401" alone.
        throw cause.status === 401 ? new GatewayCallError(401, `${cause.message} (the gateway gave no refresh token: sign in again with mounts add)`) : cause;
      }
      const res = await send(
        `${this.baseUrl}/v2/gateway_auth_access`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ 'gateway.auth.refresh.token': stale.refreshToken }) },
        'refresh the session',
      );
      if (!res.ok) {
        const err = await failure(res, 'refresh the session');
        throw new GatewayCallError(401, `${err.message} (sign in again: mounts add)`);
      }
      return refreshedOf(await objectOf(res, 'refresh the session'), stale);
    });
  }

  /** What the gateway says about one entry (get-entry), with its id even when the answer leaves it out. */
  async facts(id: string): Promise<Partial<Entry>> {
    return { id, ...factsOf(await objectOf(await this.call('GET', `/v2/gateway_metadata/${id}`, 'get entry'), 'get entry')) };
  }

  /** Every child of a folder, page by page. */
  async *children(folderId: string): AsyncGenerator<Entry> {
    let page: string | null = null;
    do {
      const query: string = page ? `?page=${encodeURIComponent(page)}` : '';
      const res = await this.call('GET', `/v2/gateway_metadata_children/${folderId}${query}`, 'list folder');
      page = res.headers.get('x-gateway-page');
      const list = await jsonOf(res, 'list folder');
      if (!Array.isArray(list)) throw new GatewayCallError(0, "list folder: the gateway's answer is not a list");
      for (const j of list as Json[]) yield listedEntry(j, folderId);
    } while (page);
  }

  /**
   * The entry a write made, from its answer, completed where the answer says less than the shell uses:
   * first from a get-entry (or, when the answer has no id, from a listing of the parent), then from what
   * the request itself said.
   */
  private async settled(res: Response, expected: Expected, what: string): Promise<Entry> {
    // An empty or non-JSON body says nothing, which the spec does not allow but costs nothing to survive.
    const answer = await objectOf(res, what).catch(() => ({}));
    let facts = factsOf(answer);
    if (!whole(facts)) {
      const more =
        facts.id !== undefined ? await this.facts(facts.id).catch(unless(GatewayCallError, {})) : await this.childNamed(expected.parentId, expected.name);
      facts = { ...more, ...facts };
    }
    if (facts.id === undefined)
      throw new GatewayCallError(0, `${what}: the gateway's answer has no gateway.metadata.id, and ${expected.name} is not in its folder`);
    return {
      id: facts.id,
      parentId: facts.parentId ?? expected.parentId,
      type: facts.type ?? expected.type,
      name: facts.name ?? expected.name,
      modified: facts.modified ?? expected.modified ?? 0,
      size: facts.size ?? expected.size,
      hash: facts.hash ?? expected.hash,
    };
  }

  private async childNamed(folderId: string | undefined, name: string): Promise<Partial<Entry>> {
    if (folderId === undefined) return {};
    try {
      for await (const e of this.children(folderId)) if (e.name === name) return e;
    } catch (err) {
      if (!(err instanceof GatewayCallError)) throw err;
    }
    return {};
  }

  async mkdir(parentId: string, name: string, modified = Date.now()): Promise<Entry> {
    const res = await this.call('POST', `/v2/gateway_metadata_folder/${parentId}`, 'new folder', {
      json: { 'gateway.metadata.name': name, 'gateway.metadata.modified': modified },
    });
    return this.settled(res, { parentId, type: 'folder', name, modified }, 'new folder');
  }

  async remove(entry: Entry): Promise<void> {
    await this.call('DELETE', `/v2/gateway_metadata/${entry.id}`, 'delete', { json: entry.parentId ? { 'gateway.metadata.parent.id': entry.parentId } : {} });
  }

  /** Renamed: the answer must carry only id and name; the rest of the entry is as it was, unless the gateway says otherwise. */
  async rename(entry: Entry, name: string): Promise<Entry> {
    const res = await this.call('PUT', `/v2/gateway_metadata_name/${entry.id}`, 'rename', {
      json: { 'new.gateway.metadata.name': name, 'old.gateway.metadata.name': entry.name },
    });
    return this.settled(res, { ...entry, name }, 'rename');
  }

  /** Moved: the answer must carry only id and parent id; the rest of the entry is as it was, unless the gateway says otherwise. */
  async move(entry: Entry, parentId: string): Promise<Entry> {
    const res = await this.call('PUT', `/v2/gateway_metadata_parent/${entry.id}`, 'move', {
      json: { 'new.gateway.metadata.parent.id': parentId, ...(entry.parentId ? { 'old.gateway.metadata.parent.id': entry.parentId } : {}) },
    });
    return this.settled(res, { ...entry, parentId }, 'move');
  }

  /** A file in one request: new (`parentId` + name) or a new version of an existing file. */
  async upload(target: UploadTarget, decl: { size: number; modified: number; sha256?: string }, body: BodySource): Promise<Entry> {
    const header: Json = { 'gateway.metadata.modified': decl.modified, 'gateway.metadata.file.size': decl.size };
    if (decl.sha256) header['gateway.metadata.file.sha256'] = decl.sha256;
    if ('parentId' in target) header['gateway.metadata.name'] = encodeURIComponent(target.name);
    const route = 'parentId' in target ? `/v2/gateway_metadata_file/${target.parentId}` : `/v2/gateway_metadata_file/${target.existing.id}`;
    const res = await this.call('parentId' in target ? 'POST' : 'PUT', route, 'upload', {
      headers: { 'X-Gateway-Upload': JSON.stringify(header), 'Content-Type': 'application/octet-stream' },
      body,
    });
    return this.settled(res, uploaded(target, decl), 'upload');
  }

  async startUpload(
    target: UploadTarget,
    decl: { size: number; modified: number; sha256?: string },
    plan: Array<{ number: number; size: number; sha256: string }>,
  ): Promise<StartedUpload> {
    const res = await this.call('POST', '/v2/gateway_upload', 'start upload', {
      json: {
        ...('parentId' in target
          ? { 'gateway.metadata.parent.id': target.parentId, 'gateway.metadata.name': target.name }
          : { 'gateway.metadata.id': target.existing.id }),
        'gateway.metadata.file.size': decl.size,
        'gateway.metadata.modified': decl.modified,
        ...(decl.sha256 ? { 'gateway.metadata.file.sha256': decl.sha256 } : {}),
        'gateway.upload.segment': plan.map((p) => ({
          'gateway.upload.segment.number': p.number,
          'gateway.upload.segment.size': p.size,
          'gateway.upload.segment.sha256': p.sha256,
        })),
      },
    });
    const b = await objectOf(res, 'start upload');
    const id = text(b, 'gateway.upload.id');
    if (!id) throw new GatewayCallError(0, "start upload: the gateway's answer has no gateway.upload.id");
    const answered = Array.isArray(b['gateway.upload.segment']) ? (b['gateway.upload.segment'] as Json[]).map(segmentFacts) : [];
    return {
      id,
      cookie: text(b, 'gateway.upload.cookie') ?? '',
      expiresAt: count(b, 'gateway.upload.expiration') ?? 0,
      // Each planned segment with what the gateway added to it (its cookie), if it said anything.
      segments: plan.map((p) => ({ cookie: '', ...p, ...answered.find((a) => a.number === p.number) })),
    };
  }

  /** Sends one segment; answers the segment and the upload's cookie as the gateway updated them (or as they were). */
  async sendSegment(upload: { id: string; cookie: string }, segment: SegmentState, body: BodySource): Promise<{ segment: SegmentState; uploadCookie: string }> {
    const res = await this.call('POST', `/v2/gateway_upload_segment/${upload.id}`, `upload segment ${segment.number}`, {
      headers: {
        'X-Gateway-Upload-Segment': JSON.stringify({ ...segmentJson(segment), 'gateway.upload.cookie': upload.cookie }),
        'Content-Type': 'application/octet-stream',
      },
      body,
    });
    const answer = await objectOf(res, `upload segment ${segment.number}`).catch(() => ({}));
    return {
      segment: { ...segment, ...segmentFacts(answer), number: segment.number, sha256: segment.sha256 },
      uploadCookie: text(answer, 'gateway.upload.cookie') ?? upload.cookie,
    };
  }

  async finishUpload(
    target: UploadTarget,
    decl: { size: number; modified: number },
    upload: { id: string; cookie: string; segments: SegmentState[] },
  ): Promise<Entry> {
    const route = 'parentId' in target ? `/v2/gateway_metadata_upload/${target.parentId}` : `/v2/gateway_metadata_upload/${target.existing.id}`;
    const res = await this.call('parentId' in target ? 'POST' : 'PUT', route, 'finish upload', {
      json: {
        ...('parentId' in target ? { 'gateway.metadata.name': target.name } : {}),
        'gateway.metadata.modified': decl.modified,
        'gateway.metadata.file.size': decl.size,
        'gateway.upload.id': upload.id,
        'gateway.upload.cookie': upload.cookie,
        'gateway.upload.segment': upload.segments.map(segmentJson),
      },
    });
    return this.settled(res, uploaded(target, decl), 'finish upload');
  }

  async cancelUpload(uploadId: string): Promise<void> {
    await this.call('DELETE', `/v2/gateway_upload/${uploadId}`, 'cancel upload');
  }

  /**
   * The bytes of a file, from `offset` on when the gateway honours ranges (206), else from the start (200).
   * `hash`, the entry's, makes the range conditional (If-Range): if the file changed since, the whole new
   * file comes back rather than the rest of another version.
   */
  async download(id: string, offset = 0, hash?: string): Promise<{ body: ReadableStream<Uint8Array>; from: number }> {
    // (only a hash that can be an entity tag: another gateway's may be anything)
    const validator: Record<string, string> = hash && /^[\x21\x23-\x7e]+$/.test(hash) ? { 'If-Range': `"${hash}"` } : {};
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-`, ...validator } : {};
    const res = await this.call('GET', `/v2/gateway_file/${id}`, 'download', offset > 0 ? { headers } : {});
    if (!res.body) throw new GatewayCallError(res.status, 'download: the gateway sent no body');
    return { body: res.body, from: res.status === 206 ? offset : 0 };
  }

  /** The status of a GET, its body left unread: what `diagnostic` asks of optional features. */
  async probe(route: string, what: string, headers: Record<string, string> = {}): Promise<number> {
    const res = await this.call('GET', route, what, { headers, anyStatus: true });
    await res.body?.cancel();
    return res.status;
  }

  /** The thumbnail route's answer for a file: 200 available, 403 not for this file, 404 not served at all. */
  thumbnailStatus(id: string): Promise<number> {
    return this.probe(`/v2/gateway_file_thumbnail/${id}`, 'thumbnail');
  }

  /** The answer to the first byte of a file: 206 when the gateway honours ranges, 200 when it sends it whole. */
  rangeStatus(id: string): Promise<number> {
    return this.probe(`/v2/gateway_file/${id}`, 'download', { Range: 'bytes=0-0' });
  }
}

/** What an upload should have made. */
function uploaded(target: UploadTarget, decl: { size: number; modified: number }): Expected {
  const where = 'parentId' in target ? { parentId: target.parentId, name: target.name } : { parentId: target.existing.parentId, name: target.existing.name };
  return { ...where, type: 'file', modified: decl.modified, size: decl.size };
}

/** A catch handler that turns errors of one class into a fallback value and lets the others through. */
function unless<T>(kind: new (...args: never[]) => Error, fallback: T): (err: unknown) => T {
  return (err) => {
    if (err instanceof kind) return fallback;
    throw err;
  };
}
