import { Readable } from 'node:stream';

/**
 * A client of the final dialect of the Gateway API v2, as any gateway speaks it (not only ours): it
 * relies on nothing beyond odrive's published routes and fields, and treats extras (byte ranges) as
 * optional.
 */

export type Json = Record<string, unknown>;

export interface Entry {
  id: string;
  parentId: string | undefined;
  type: 'file' | 'folder';
  name: string;
  modified: number;
  size: number | undefined;
  hash: string | undefined;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
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

/** An answer of the gateway that is not a success, as one line a person can act on. */
export class GatewayCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function entryOf(j: Json): Entry {
  const type = j['gateway.metadata.type'];
  if (typeof j['gateway.metadata.id'] !== 'string' || (type !== 'file' && type !== 'folder')) {
    throw new GatewayCallError(0, 'the gateway answered with something that is not an entry');
  }
  return {
    id: j['gateway.metadata.id'],
    parentId: typeof j['gateway.metadata.parent.id'] === 'string' ? j['gateway.metadata.parent.id'] : undefined,
    type,
    name: String(j['gateway.metadata.name'] ?? ''),
    modified: Number(j['gateway.metadata.modified'] ?? 0),
    size: typeof j['gateway.metadata.file.size'] === 'number' ? j['gateway.metadata.file.size'] : undefined,
    hash: typeof j['gateway.metadata.file.hash'] === 'string' ? j['gateway.metadata.file.hash'] : undefined,
  };
}

const segmentJson = (s: SegmentState) => ({
  'gateway.upload.segment.number': s.number,
  'gateway.upload.segment.size': s.size,
  'gateway.upload.segment.sha256': s.sha256,
  'gateway.upload.segment.cookie': s.cookie,
});

function segmentOf(j: Json): SegmentState {
  return {
    number: Number(j['gateway.upload.segment.number']),
    size: Number(j['gateway.upload.segment.size']),
    sha256: String(j['gateway.upload.segment.sha256'] ?? ''),
    cookie: String(j['gateway.upload.segment.cookie'] ?? ''),
  };
}

async function failure(res: Response, what: string): Promise<GatewayCallError> {
  let detail = '';
  try {
    const body = (await res.json()) as Json;
    detail = typeof body.message === 'string' ? body.message : '';
  } catch {
    // not JSON: the status says enough
  }
  return new GatewayCallError(res.status, `${what}: ${res.status}${detail ? ` ${detail}` : ` ${res.statusText}`}`);
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

  static async authMethod(baseUrl: string): Promise<{ method: 'form'; fields: FormField[] } | { method: string }> {
    const res = await send(`${baseUrl}/v2/gateway_auth_method`, {}, 'sign-in method');
    if (!res.ok) throw await failure(res, 'sign-in method');
    const body = (await res.json()) as Json;
    if (body['gateway.auth.method'] !== 'form') return { method: String(body['gateway.auth.method']) };
    const form = Array.isArray(body['gateway.auth.form']) ? (body['gateway.auth.form'] as Json[]) : [];
    const fields = form
      .map((f) => ({
        name: String(f['gateway.auth.form.input.field.name']),
        prompt: String(f['gateway.auth.form.input.field.prompt'] ?? f['gateway.auth.form.input.field.name']),
        required: f['gateway.auth.form.input.field.required'] !== false,
        order: Number(f['gateway.auth.form.input.field.order'] ?? 0),
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
    const b = (await res.json()) as Json;
    const segment = b['gateway.upload.segment.size'];
    return {
      accessToken: String(b['gateway.auth.access.token']),
      refreshToken: String(b['gateway.auth.refresh.token']),
      rootId: String(b['gateway.auth.metadata.id'] ?? ''),
      authId: typeof b['gateway.auth.id'] === 'string' ? b['gateway.auth.id'] : undefined,
      segmentSize: typeof segment === 'number' && segment > 0 ? segment : undefined,
    };
  }

  async signOut(): Promise<void> {
    await send(`${this.baseUrl}/v2/gateway_auth/${encodeURIComponent(this.tokens.accessToken)}`, { method: 'DELETE' }, 'sign out');
  }

  // ---------------------------------------------------------------- the session's calls

  /**
   * One call with the access token; on 401, one refresh (which rotates both tokens) and the call again.
   * A gateway may refuse an expired token before reading a streamed body and close the connection, which
   * reaches us as a network error rather than a 401: such calls are refreshed and repeated once too.
   */
  async call(method: string, route: string, what: string, opts: { json?: Json; headers?: Record<string, string>; body?: BodySource } = {}): Promise<Response> {
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
      return send(`${this.baseUrl}${route}`, { method, headers, body, ...(body && typeof body !== 'string' ? { duplex: 'half' } : {}) } as RequestInit, what);
    };
    let res: Response;
    try {
      res = await attempt();
    } catch (err) {
      if (!opts.body || !(err instanceof GatewayCallError)) throw err;
      await this.refresh();
      res = await attempt();
    }
    if (res.status === 401) {
      await res.body?.cancel();
      await this.refresh();
      res = await attempt();
    }
    if (!res.ok) throw await failure(res, what);
    return res;
  }

  private async refresh(): Promise<void> {
    this.tokens = await this.keeper.renew(this.tokens, async (stale) => {
      const res = await send(
        `${this.baseUrl}/v2/gateway_auth_access`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ 'gateway.auth.refresh.token': stale.refreshToken }) },
        'refresh the session',
      );
      if (!res.ok) {
        const err = await failure(res, 'refresh the session');
        throw new GatewayCallError(401, `${err.message} (sign in again: mounts add)`);
      }
      const b = (await res.json()) as Json;
      return { accessToken: String(b['gateway.auth.access.token']), refreshToken: String(b['gateway.auth.refresh.token']) };
    });
  }

  async entry(id: string): Promise<Entry> {
    return entryOf((await (await this.call('GET', `/v2/gateway_metadata/${id}`, 'get entry')).json()) as Json);
  }

  /** Every child of a folder, page by page. */
  async *children(folderId: string): AsyncGenerator<Entry> {
    let page: string | null = null;
    do {
      const query: string = page ? `?page=${encodeURIComponent(page)}` : '';
      const res = await this.call('GET', `/v2/gateway_metadata_children/${folderId}${query}`, 'list folder');
      page = res.headers.get('x-gateway-page');
      for (const j of (await res.json()) as Json[]) yield entryOf(j);
    } while (page);
  }

  async mkdir(parentId: string, name: string, modified = Date.now()): Promise<Entry> {
    const res = await this.call('POST', `/v2/gateway_metadata_folder/${parentId}`, 'new folder', {
      json: { 'gateway.metadata.name': name, 'gateway.metadata.modified': modified },
    });
    return entryOf((await res.json()) as Json);
  }

  async remove(entry: Entry): Promise<void> {
    await this.call('DELETE', `/v2/gateway_metadata/${entry.id}`, 'delete', { json: entry.parentId ? { 'gateway.metadata.parent.id': entry.parentId } : {} });
  }

  async rename(entry: Entry, name: string): Promise<Entry> {
    const res = await this.call('PUT', `/v2/gateway_metadata_name/${entry.id}`, 'rename', {
      json: { 'new.gateway.metadata.name': name, 'old.gateway.metadata.name': entry.name },
    });
    return entryOf((await res.json()) as Json);
  }

  async move(entry: Entry, parentId: string): Promise<Entry> {
    const res = await this.call('PUT', `/v2/gateway_metadata_parent/${entry.id}`, 'move', {
      json: { 'new.gateway.metadata.parent.id': parentId, ...(entry.parentId ? { 'old.gateway.metadata.parent.id': entry.parentId } : {}) },
    });
    return entryOf((await res.json()) as Json);
  }

  /** A file in one request: new (`parentId` + name) or an update of `existingId`. */
  async upload(target: { parentId: string; name: string } | { existingId: string }, decl: { size: number; modified: number; sha256?: string }, body: BodySource): Promise<Entry> {
    const header: Json = { 'gateway.metadata.modified': decl.modified, 'gateway.metadata.file.size': decl.size };
    if (decl.sha256) header['gateway.metadata.file.sha256'] = decl.sha256;
    if ('parentId' in target) header['gateway.metadata.name'] = encodeURIComponent(target.name);
    const route = 'parentId' in target ? `/v2/gateway_metadata_file/${target.parentId}` : `/v2/gateway_metadata_file/${target.existingId}`;
    const res = await this.call('parentId' in target ? 'POST' : 'PUT', route, 'upload', {
      headers: { 'X-Gateway-Upload': JSON.stringify(header), 'Content-Type': 'application/octet-stream' },
      body,
    });
    return entryOf((await res.json()) as Json);
  }

  async startUpload(
    target: { parentId: string; name: string } | { existingId: string },
    decl: { size: number; modified: number; sha256?: string },
    plan: Array<{ number: number; size: number; sha256: string }>,
  ): Promise<StartedUpload> {
    const res = await this.call('POST', '/v2/gateway_upload', 'start upload', {
      json: {
        ...('parentId' in target ? { 'gateway.metadata.parent.id': target.parentId, 'gateway.metadata.name': target.name } : { 'gateway.metadata.id': target.existingId }),
        'gateway.metadata.file.size': decl.size,
        'gateway.metadata.modified': decl.modified,
        ...(decl.sha256 ? { 'gateway.metadata.file.sha256': decl.sha256 } : {}),
        'gateway.upload.segment': plan.map((p) => ({ 'gateway.upload.segment.number': p.number, 'gateway.upload.segment.size': p.size, 'gateway.upload.segment.sha256': p.sha256 })),
      },
    });
    const b = (await res.json()) as Json;
    return {
      id: String(b['gateway.upload.id']),
      cookie: String(b['gateway.upload.cookie'] ?? ''),
      expiresAt: Number(b['gateway.upload.expiration'] ?? 0),
      segments: ((b['gateway.upload.segment'] as Json[] | undefined) ?? []).map(segmentOf),
    };
  }

  async sendSegment(upload: { id: string; cookie: string }, segment: SegmentState, body: BodySource): Promise<SegmentState> {
    const res = await this.call('POST', `/v2/gateway_upload_segment/${upload.id}`, `upload segment ${segment.number}`, {
      headers: { 'X-Gateway-Upload-Segment': JSON.stringify({ ...segmentJson(segment), 'gateway.upload.cookie': upload.cookie }), 'Content-Type': 'application/octet-stream' },
      body,
    });
    return segmentOf((await res.json()) as Json);
  }

  async finishUpload(
    target: { parentId: string; name: string } | { existingId: string },
    decl: { size: number; modified: number },
    upload: { id: string; cookie: string; segments: SegmentState[] },
  ): Promise<Entry> {
    const route = 'parentId' in target ? `/v2/gateway_metadata_upload/${target.parentId}` : `/v2/gateway_metadata_upload/${target.existingId}`;
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
    return entryOf((await res.json()) as Json);
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

  /** The thumbnail route's answer for a file: its status only (200 available, 403 not for this file). */
  async thumbnailStatus(id: string): Promise<number> {
    const res = await send(`${this.baseUrl}/v2/gateway_file_thumbnail/${id}`, { headers: { Authorization: `Bearer ${this.tokens.accessToken}` } }, 'thumbnail');
    await res.body?.cancel();
    return res.status;
  }
}
