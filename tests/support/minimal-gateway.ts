import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A gateway of the final dialect that answers each route with only what odrive's published spec requires
 * and offers none of its options, for testing clients against gateways other than this project's:
 *
 * - sign-in with a form (`user`, `password`), answered with the access token and the root folder only: no
 *   refresh token (so no refresh route), no `gateway.auth.id`, no `gateway.upload.segment.size`;
 * - listings and get-entry with `gateway.metadata.id`, `.type` and `.name` only, on one page;
 * - new folder and uploads answered with those three; rename with id and name, move with id and parent id
 *   (the properties odrive's spec lists for each, "including but not limited to");
 * - downloads whole (200) whatever the `Range` header says; no thumbnails and no segmented uploads (404);
 * - errors as a short plain-text body (the spec sets no error shape).
 *
 * Ids are the base64url of the entry's path, so a rename or move gives the entry (and everything in it) a
 * new id, as the spec allows. Files live in memory. Listens on 127.0.0.1 on a free port.
 */
export interface MinimalGateway {
  url: string;
  /** The root folder's id, as sign-in answers it. */
  rootId: string;
  /** Every request answered: method, path (no query), status, and the Range header when one came. */
  requests: Array<{ method: string; path: string; status: number; range?: string }>;
  /** Ends every session, as access tokens expiring would. */
  expireSessions(): void;
  stop(): Promise<void>;
}

interface Folder {
  type: 'folder';
  children: Map<string, Item>;
}
interface StoredFile {
  type: 'file';
  bytes: Buffer;
  modified: number;
}
type Item = Folder | StoredFile;

/** An answer that is not a success. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const idOf = (path: string[]) => Buffer.from(`/${path.join('/')}`).toString('base64url');

export async function startMinimalGateway(account: { user: string; password: string }): Promise<MinimalGateway> {
  const root: Folder = { type: 'folder', children: new Map() };
  const sessions = new Set<string>();
  const requests: MinimalGateway['requests'] = [];

  /** The item an id names, with its path. */
  function find(id: string): { item: Item; path: string[] } {
    const decoded = Buffer.from(id, 'base64url').toString('utf8');
    if (!decoded.startsWith('/') || idOf(decoded.slice(1).split('/').filter(Boolean)) !== id) throw new Refusal(404, 'not found');
    const path = decoded.slice(1).split('/').filter(Boolean);
    let item: Item = root;
    for (const name of path) {
      const next: Item | undefined = item.type === 'folder' ? item.children.get(name) : undefined;
      if (!next) throw new Refusal(404, 'not found');
      item = next;
    }
    return { item, path };
  }

  function folder(id: string): { item: Folder; path: string[] } {
    const found = find(id);
    if (found.item.type !== 'folder') throw new Refusal(400, 'not a folder');
    return { item: found.item, path: found.path };
  }

  /** A signed-in request's file or folder that may be renamed or moved: anything but the root. */
  function movable(req: IncomingMessage, id: string): { item: Item; path: string[] } {
    signedIn(req);
    const found = find(id);
    if (found.path.length === 0) throw new Refusal(403, 'not allowed');
    return found;
  }

  /** Puts a new child under a name nothing in the folder has yet (409 otherwise). */
  async function addChild(id: string, name: string, make: () => Promise<Item>): Promise<ReturnType<typeof entry>> {
    const { item, path } = folder(id);
    // (The message echoes the name, as many servers' do: what a client prints of it is the client's care.)
    if (item.children.has(name)) throw new Refusal(409, `name conflict: ${name}`);
    const made = await make();
    item.children.set(name, made);
    return entry(made, [...path, name]);
  }

  function parentOf(path: string[]): Folder {
    return folder(idOf(path.slice(0, -1))).item;
  }

  function validName(name: unknown): string {
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) throw new Refusal(400, 'invalid name');
    return name;
  }

  /** The properties odrive's spec requires of an entry, and no others. */
  const entry = (item: Item, path: string[]) => ({
    'gateway.metadata.id': idOf(path),
    'gateway.metadata.type': item.type,
    'gateway.metadata.name': path[path.length - 1] ?? '',
  });

  async function bodyOf(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async function jsonOf(req: IncomingMessage): Promise<Record<string, unknown>> {
    const text = (await bodyOf(req)).toString('utf8');
    try {
      const j = JSON.parse(text === '' ? '{}' : text) as unknown;
      if (typeof j === 'object' && j !== null && !Array.isArray(j)) return j as Record<string, unknown>;
    } catch {
      // answered below
    }
    throw new Refusal(400, 'the body is not a JSON object');
  }

  function signedIn(req: IncomingMessage): void {
    const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
    if (!sessions.has(token)) throw new Refusal(401, 'authorization required');
  }

  /** The routes, in order; each answers JSON, bytes, or nothing. */
  const routes: Array<[string, RegExp, (req: IncomingMessage, res: ServerResponse, id: string) => Promise<unknown>]> = [
    [
      'GET',
      /^\/v2\/gateway_auth_method$/,
      async () => ({
        'gateway.auth.method': 'form',
        'gateway.auth.form': [
          {
            'gateway.auth.form.input.field.name': 'user',
            'gateway.auth.form.input.field.prompt': 'User',
            'gateway.auth.form.input.field.required': true,
            'gateway.auth.form.input.field.order': 1,
          },
          {
            'gateway.auth.form.input.field.name': 'password',
            'gateway.auth.form.input.field.prompt': 'Password',
            'gateway.auth.form.input.field.required': true,
            'gateway.auth.form.input.field.order': 2,
          },
        ],
      }),
    ],
    [
      'POST',
      /^\/v2\/gateway_auth$/,
      async (req) => {
        const form = await jsonOf(req);
        if (typeof form.user !== 'string' || typeof form.password !== 'string') throw new Refusal(400, 'missing credential');
        if (form.user !== account.user || form.password !== account.password) throw new Refusal(403, 'invalid credential');
        const token = randomBytes(24).toString('base64url');
        sessions.add(token);
        return { 'gateway.auth.access.token': token, 'gateway.auth.metadata.id': idOf([]) };
      },
    ],
    [
      'DELETE',
      /^\/v2\/gateway_auth\/([^/]+)$/,
      async (_req, _res, token) => {
        if (!sessions.delete(token)) throw new Refusal(404, 'not found');
        return undefined;
      },
    ],
    [
      'GET',
      /^\/v2\/gateway_metadata_children\/([^/]*)$/,
      async (req, _res, id) => {
        signedIn(req);
        const { item, path } = folder(id);
        return [...item.children].map(([name, child]) => entry(child, [...path, name]));
      },
    ],
    [
      'GET',
      /^\/v2\/gateway_metadata\/([^/]*)$/,
      async (req, _res, id) => {
        signedIn(req);
        const { item, path } = find(id);
        return entry(item, path);
      },
    ],
    [
      'DELETE',
      /^\/v2\/gateway_metadata\/([^/]*)$/,
      async (req, _res, id) => {
        signedIn(req);
        await bodyOf(req);
        const { path } = find(id);
        if (path.length === 0) throw new Refusal(403, 'not allowed');
        parentOf(path).children.delete(path[path.length - 1]!);
        return undefined;
      },
    ],
    [
      'POST',
      /^\/v2\/gateway_metadata_folder\/([^/]*)$/,
      async (req, _res, id) => {
        signedIn(req);
        const name = validName((await jsonOf(req))['gateway.metadata.name']);
        return addChild(id, name, async () => ({ type: 'folder', children: new Map() }));
      },
    ],
    [
      'POST',
      /^\/v2\/gateway_metadata_file\/([^/]*)$/,
      async (req, _res, id) => {
        signedIn(req);
        const header = uploadHeader(req);
        const name = validName(decodeURIComponent(String((header['gateway.metadata.name'] as string | undefined) ?? '')));
        return addChild(id, name, () => fileFrom(req, header));
      },
    ],
    [
      'PUT',
      /^\/v2\/gateway_metadata_file\/([^/]*)$/,
      async (req, _res, id) => {
        signedIn(req);
        const { item, path } = find(id);
        if (item.type !== 'file') throw new Refusal(400, 'not a file');
        const file = await fileFrom(req, uploadHeader(req));
        parentOf(path).children.set(path[path.length - 1]!, file);
        return entry(file, path);
      },
    ],
    [
      'PUT',
      /^\/v2\/gateway_metadata_name\/([^/]*)$/,
      async (req, _res, id) => {
        const { item, path } = movable(req, id);
        const name = validName((await jsonOf(req))['new.gateway.metadata.name']);
        const parent = parentOf(path);
        if (parent.children.has(name)) throw new Refusal(409, 'name conflict');
        parent.children.delete(path[path.length - 1]!);
        parent.children.set(name, item);
        return { 'gateway.metadata.id': idOf([...path.slice(0, -1), name]), 'gateway.metadata.name': name };
      },
    ],
    [
      'PUT',
      /^\/v2\/gateway_metadata_parent\/([^/]*)$/,
      async (req, _res, id) => {
        const { item, path } = movable(req, id);
        const into = folder(String(((await jsonOf(req))['new.gateway.metadata.parent.id'] as string | undefined) ?? ''));
        const name = path[path.length - 1]!;
        if (into.path.length >= path.length && path.every((n, i) => into.path[i] === n)) throw new Refusal(400, 'a folder cannot go into itself');
        if (into.item.children.has(name)) throw new Refusal(409, 'name conflict');
        parentOf(path).children.delete(name);
        into.item.children.set(name, item);
        return { 'gateway.metadata.id': idOf([...into.path, name]), 'gateway.metadata.parent.id': idOf(into.path) };
      },
    ],
    [
      'GET',
      /^\/v2\/gateway_file\/([^/]*)$/,
      async (req, res, id) => {
        signedIn(req);
        const { item } = find(id);
        if (item.type !== 'file') throw new Refusal(400, 'not a file');
        // Whole, whatever the Range header asks: byte ranges are an option of HTTP, not of the spec.
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': item.bytes.length });
        res.end(item.bytes);
        return res;
      },
    ],
  ];

  function uploadHeader(req: IncomingMessage): Record<string, unknown> {
    try {
      return JSON.parse(String(req.headers['x-gateway-upload'] ?? '')) as Record<string, unknown>;
    } catch {
      throw new Refusal(400, 'X-Gateway-Upload: not JSON');
    }
  }

  async function fileFrom(req: IncomingMessage, header: Record<string, unknown>): Promise<StoredFile> {
    const bytes = await bodyOf(req);
    if (header['gateway.metadata.file.size'] !== bytes.length) throw new Refusal(400, 'gateway.metadata.file.size: does not match the body');
    return { type: 'file', bytes, modified: Number(header['gateway.metadata.modified']) };
  }

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    try {
      for (const [method, pattern, handle] of routes) {
        const m = pattern.exec(path);
        if (!m || req.method !== method) continue;
        const result = await handle(req, res, decodeURIComponent(m[1] ?? ''));
        if (result === res) return;
        res.writeHead(200, result === undefined ? {} : { 'Content-Type': 'application/json' });
        res.end(result === undefined ? undefined : JSON.stringify(result));
        return;
      }
      throw new Refusal(404, 'not found');
    } catch (err) {
      const refusal = err instanceof Refusal ? err : new Refusal(500, 'unexpected');
      req.resume(); // (an unread upload body must not hold the connection)
      res.writeHead(refusal.status, { 'Content-Type': 'text/plain' });
      res.end(refusal.message);
    }
  }

  const server = createServer((req, res) => {
    res.on('finish', () =>
      requests.push({
        method: req.method ?? '',
        path: new URL(req.url ?? '/', 'http://gateway').pathname,
        status: res.statusCode,
        ...(req.headers.range ? { range: req.headers.range } : {}),
      }),
    );
    void answer(req, res);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rootId: idOf([]),
    requests,
    expireSessions: () => sessions.clear(),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
