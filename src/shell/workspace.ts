import path from 'node:path';
import { type ConfigFile, type Mount, type ShellState } from './config-file.js';
import { GatewayClient, type Entry, type TokenKeeper } from './gateway-client.js';

/** A failure the shell reports as one line and a non-zero exit. */
export class ShellError extends Error {}

export const TOP = '/gateway';

/** Where a path leads: the list of mounts, or an entry of one mount. */
export type Place = { kind: 'top' } | { kind: 'entry'; mount: string; client: GatewayClient; entry: Entry; path: string };

/**
 * The shell's view of its mounts: remote paths (/gateway/<mount>/...) resolved to entries by listing
 * folder by folder, and one client per mount whose refreshed tokens are written back to the config file.
 */
export class Workspace {
  private readonly clients = new Map<string, GatewayClient>();
  private readonly listings = new Map<string, Entry[]>();

  private constructor(
    readonly config: ConfigFile,
    public state: ShellState,
  ) {}

  static async open(config: ConfigFile): Promise<Workspace> {
    return new Workspace(config, await config.read());
  }

  get cwd(): string {
    return this.state.cwd;
  }

  async setCwd(cwd: string): Promise<void> {
    this.state = await this.config.update((s) => {
      s.cwd = cwd;
    });
  }

  async addMount(name: string, mount: Mount): Promise<void> {
    this.state = await this.config.update((s) => {
      s.mounts[name] = mount;
    });
    this.clients.delete(name);
  }

  async removeMount(name: string): Promise<void> {
    this.state = await this.config.update((s) => {
      delete s.mounts[name];
      if (s.cwd === `${TOP}/${name}` || s.cwd.startsWith(`${TOP}/${name}/`)) s.cwd = TOP;
    });
    this.clients.delete(name);
  }

  mount(name: string): Mount {
    const m = this.state.mounts[name];
    if (!m) throw new ShellError(`no mount named "${name}" (see: mounts list)`);
    return m;
  }

  client(name: string): GatewayClient {
    let c = this.clients.get(name);
    if (!c) {
      const m = this.mount(name);
      c = new GatewayClient(m.url, { accessToken: m.accessToken, refreshToken: m.refreshToken }, this.tokenKeeper(name));
      this.clients.set(name, c);
    }
    return c;
  }

  /** Tokens of one mount, renewed by one process at a time (see TokenKeeper). */
  private tokenKeeper(name: string): TokenKeeper {
    return {
      renew: async (stale, refresh) => {
        let tokens = stale;
        this.state = await this.config.update(async (s) => {
          const kept = s.mounts[name];
          if (!kept) throw new ShellError(`the mount "${name}" was removed`);
          // Another gws refreshed first: its tokens are the live ones.
          tokens = kept.accessToken !== stale.accessToken ? { accessToken: kept.accessToken, refreshToken: kept.refreshToken } : await refresh(stale);
          Object.assign(kept, tokens);
        });
        return tokens;
      },
    };
  }

  /** An absolute, normalised remote path; relative paths start from the working folder. */
  absolute(p: string | undefined): string {
    const abs = path.posix.resolve(this.cwd, p ?? '.');
    if (abs !== TOP && !abs.startsWith(`${TOP}/`)) throw new ShellError(`${p}: remote paths live under ${TOP}/<mount>/`);
    return abs;
  }

  private parts(abs: string): { mount: string; names: string[] } | undefined {
    const rest = abs.slice(TOP.length).split('/').filter(Boolean);
    return rest.length === 0 ? undefined : { mount: rest[0]!, names: rest.slice(1) };
  }

  async childrenOf(client: GatewayClient, folderId: string): Promise<Entry[]> {
    const key = `${client.baseUrl} ${folderId}`;
    let list = this.listings.get(key);
    if (!list) {
      list = [];
      for await (const e of client.children(folderId)) list.push(e);
      this.listings.set(key, list);
    }
    return list;
  }

  /** Forget listings after a change, so the next lookup sees it. */
  changed(): void {
    this.listings.clear();
  }

  /** An entry now in a folder (made or replaced by us): its listing, if known, stays right without a new one. */
  added(folder: Extract<Place, { kind: 'entry' }>, entry: Entry): void {
    const list = this.listings.get(`${folder.client.baseUrl} ${folder.entry.id}`);
    if (!list) return;
    const at = list.findIndex((e) => e.name === entry.name);
    if (at >= 0) list[at] = entry;
    else list.push(entry);
  }

  async locate(p: string | undefined): Promise<Place> {
    const abs = this.absolute(p);
    const parts = this.parts(abs);
    if (!parts) return { kind: 'top' };
    const client = this.client(parts.mount);
    let entry: Entry = {
      id: this.mount(parts.mount).rootId,
      parentId: undefined,
      type: 'folder',
      name: parts.mount,
      modified: 0,
      size: undefined,
      hash: undefined,
    };
    let walked = `${TOP}/${parts.mount}`;
    for (const name of parts.names) {
      if (entry.type !== 'folder') throw new ShellError(`${walked}: not a folder`);
      const next = (await this.childrenOf(client, entry.id)).find((e) => e.name === name);
      walked = `${walked}/${name}`;
      if (!next) throw new ShellError(`${walked}: no such file or folder`);
      entry = next;
    }
    return { kind: 'entry', mount: parts.mount, client, entry, path: abs };
  }

  /** An entry of a mount (not the list of mounts). */
  async entryAt(p: string | undefined): Promise<Extract<Place, { kind: 'entry' }>> {
    const place = await this.locate(p);
    if (place.kind === 'top') throw new ShellError(`${TOP}: the list of mounts, not a file or folder of one`);
    return place;
  }

  async folderAt(p: string | undefined): Promise<Extract<Place, { kind: 'entry' }>> {
    const place = await this.entryAt(p);
    if (place.entry.type !== 'folder') throw new ShellError(`${place.path}: not a folder`);
    return place;
  }

  /** The folder a new entry at `p` would go into, and its name. */
  async parentOf(p: string): Promise<{ parent: Extract<Place, { kind: 'entry' }>; name: string }> {
    const abs = this.absolute(p);
    const name = path.posix.basename(abs);
    const dir = path.posix.dirname(abs);
    if (dir === TOP || abs === TOP) throw new ShellError(`${abs}: make folders inside a mount (${TOP}/<mount>/...)`);
    return { parent: await this.folderAt(dir), name };
  }

  /** Refuses to rename, move or delete a mount's root folder. */
  assertNotRoot(place: Extract<Place, { kind: 'entry' }>, what: string): void {
    if (place.entry.id === this.mount(place.mount).rootId) throw new ShellError(`${place.path}: cannot ${what} a mount's root`);
  }

  /** The child of a folder with this name, if any. */
  async childNamed(place: Extract<Place, { kind: 'entry' }>, name: string): Promise<Entry | undefined> {
    return (await this.childrenOf(place.client, place.entry.id)).find((e) => e.name === name);
  }
}
