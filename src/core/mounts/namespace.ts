import type { Readable } from 'node:stream';
import { fieldError, GatewayError, invalid, type Field } from '../../errors.js';
import type { Account } from '../auth/accounts.js';
import { IMPLICIT_FOLDER_MODIFIED, type BucketFileSystem, type Entry } from '../file-system.js';
import { decodeId, encodeId, isFolderKey, MAX_KEY_BYTES, nameOf, parentOf, ROOT_ID } from '../ids.js';
import type { DownloadRequest, DownloadService } from '../transfers/downloads.js';
import type { FileDeclaration } from '../transfers/declarations.js';
import type { FinishTarget, SegmentHeader, SegmentedUploads, StartedUpload, UploadTargetInput } from '../transfers/segmented-uploads.js';
import type { StreamedUploads } from '../transfers/streamed-uploads.js';
import type { ThumbnailService } from '../transfers/thumbnails.js';
import type { Mount, MountTable } from './mount-table.js';

/**
 * One account's files as one tree: its home at the root, and each mount granted to it as a folder of the
 * root. Ids are what they always were, the base64url of a path relative to the root: a file of the home
 * keeps its id whatever is granted or revoked, and `Team/a.txt` is the id of `a.txt` in the mount Team.
 * A mount's folder hides a home folder (or file) of the same name while it is granted.
 */

/** Where an id points: the account as it acts there (bucket, prefix, rights), a key relative to that, and the ids' prefix. */
interface Place {
  view: Account;
  rel: string;
  /** '' for the home, `Name/` inside the mount Name. */
  prefix: string;
}

type Located = { kind: 'root' } | { kind: 'mount'; mount: Mount; place: Place } | { kind: 'inside'; place: Place };

interface Space {
  account: Account;
  home: Account | undefined;
  mounts: Map<string, Mount>;
}

const notFound = () => new GatewayError('not_found', 'No such file or folder.');
const fixedMount = (name: string) => new GatewayError('forbidden', `"${name}" is a shared folder: it cannot be renamed, moved or deleted.`);
const noHome = () =>
  new GatewayError('forbidden', 'This account has no folder of its own: the top level only lists its shared folders. Put files inside one of them.');
const mountNameTaken = (field: Field) => fieldError('conflict', { field, problem: 'is the name of a shared folder at the top level' });

/** The id `id` of a place has in the whole tree. */
function outerId(prefix: string, id: string): string {
  return prefix === '' ? id : encodeId(prefix + decodeId(id));
}

function outer(prefix: string, e: Entry): Entry {
  return prefix === '' ? e : { ...e, id: outerId(prefix, e.id), parentId: outerId(prefix, e.parentId) };
}

function mountEntry(m: Mount): Entry {
  return { id: encodeId(`${m.name}/`), parentId: ROOT_ID, type: 'folder', name: m.name, modified: IMPLICIT_FOLDER_MODIFIED };
}

/** A segmented upload's id carries the mount it was started in, so that its segments go there too. */
const uploadIdIn = (prefix: string, id: string) => (prefix === '' ? id : `${id}.${Buffer.from(prefix.slice(0, -1)).toString('base64url')}`);

export class Namespace {
  constructor(
    private readonly table: MountTable | undefined,
    private readonly fs: BucketFileSystem,
    private readonly streamed: StreamedUploads,
    private readonly segmented: SegmentedUploads,
    private readonly downloadService: DownloadService,
    private readonly thumbnailService: ThumbnailService,
  ) {}

  // ---------------------------------------------------------------- places

  private space(account: Account): Space {
    const granted = this.table?.grantedTo(account) ?? [];
    return { account, home: account.hasHome === false ? undefined : account, mounts: new Map(granted.map((m) => [m.name, m])) };
  }

  private view(account: Account, m: Mount): Account {
    const readOnly = account.readOnly || m.readOnly;
    return {
      ...account,
      bucket: m.bucket,
      root: m.prefix,
      readOnly,
      hasHome: true,
      ...(m.readOnly && !account.readOnly ? { readOnlyReason: `The shared folder "${m.name}" is read-only.` } : {}),
    };
  }

  private locate(s: Space, id: string, field: Field = 'id'): Located {
    const rel = decodeId(id, field);
    if (rel === '') return { kind: 'root' };
    const slash = rel.indexOf('/');
    const m = slash > 0 ? s.mounts.get(rel.slice(0, slash)) : undefined;
    if (m) {
      const place = { view: this.view(s.account, m), rel: rel.slice(slash + 1), prefix: `${m.name}/` };
      return place.rel === '' ? { kind: 'mount', mount: m, place } : { kind: 'inside', place };
    }
    if (!s.home) throw notFound();
    return { kind: 'inside', place: { view: s.home, rel, prefix: '' } };
  }

  /** The place an id stands for, where a folder id may be the root (the home's root) or a mount's folder. */
  private placeOf(s: Space, id: string, field: Field = 'id'): Place {
    const at = this.locate(s, id, field);
    if (at.kind !== 'root') return at.place;
    if (!s.home) throw noHome();
    return { view: s.home, rel: '', prefix: '' };
  }

  /** A new name at the top level must not be a mount's. */
  private checkTopLevelName(s: Space, place: Place, name: unknown, field: Field): void {
    if (place.prefix === '' && place.rel === '' && typeof name === 'string' && s.mounts.has(name)) throw mountNameTaken(field);
  }

  private uploadPlace(s: Space, uploadId: string): { view: Account; id: string; prefix: string } {
    const dot = uploadId.indexOf('.');
    if (dot < 0) {
      if (!s.home) throw new GatewayError('not_found', 'No such upload (unknown, finished, cancelled or expired).');
      return { view: s.home, id: uploadId, prefix: '' };
    }
    const m = s.mounts.get(Buffer.from(uploadId.slice(dot + 1), 'base64url').toString('utf8'));
    if (!m) throw new GatewayError('not_found', 'No such upload (unknown, finished, cancelled or expired).');
    return { view: this.view(s.account, m), id: uploadId.slice(0, dot), prefix: `${m.name}/` };
  }

  // ---------------------------------------------------------------- reading

  async list(account: Account, folderId: string, page: string | undefined): Promise<{ entries: Entry[]; nextPage: string | undefined }> {
    const s = this.space(account);
    if (s.mounts.size === 0 && s.home) return this.fs.list(await this.fs.viewOf(account), folderId, page);
    const at = this.locate(s, folderId);
    if (at.kind !== 'root') {
      const r = await this.fs.list(await this.fs.viewOf(at.place.view), encodeId(at.place.rel), page);
      return { entries: r.entries.map((e) => outer(at.place.prefix, e)), nextPage: r.nextPage };
    }
    const mounts = page === undefined ? [...s.mounts.values()].map(mountEntry) : [];
    if (!s.home) {
      if (page !== undefined) throw invalid('page', 'is not a page token of this listing');
      return { entries: mounts, nextPage: undefined };
    }
    // The home's own entries, less those a mount hides; a page a mount emptied is skipped, not answered.
    let next = page;
    for (;;) {
      const r = await this.fs.list(await this.fs.viewOf(s.home), ROOT_ID, next);
      const entries = r.entries.filter((e) => !s.mounts.has(e.name));
      if (entries.length > 0 || mounts.length > 0 || r.nextPage === undefined) return { entries: [...mounts, ...entries], nextPage: r.nextPage };
      next = r.nextPage;
    }
  }

  async entry(account: Account, id: string): Promise<Entry> {
    const s = this.space(account);
    const at = this.locate(s, id);
    if (at.kind === 'root') {
      if (s.home) return this.fs.entry(await this.fs.viewOf(s.home), ROOT_ID);
      return { id: ROOT_ID, parentId: ROOT_ID, type: 'folder', name: account.name, modified: IMPLICIT_FOLDER_MODIFIED };
    }
    if (at.kind === 'mount') return mountEntry(at.mount);
    return outer(at.place.prefix, await this.fs.entry(await this.fs.viewOf(at.place.view), encodeId(at.place.rel)));
  }

  // ---------------------------------------------------------------- folders, rename, move, delete

  async createFolder(account: Account, parentId: string, name: unknown, modified: unknown): Promise<Entry> {
    const s = this.space(account);
    const place = this.placeOf(s, parentId);
    if (place.prefix === '' && place.rel === '' && typeof name === 'string') {
      const m = s.mounts.get(name);
      if (m) return mountEntry(m);
    }
    return outer(place.prefix, await this.fs.createFolder(await this.fs.viewOf(place.view), encodeId(place.rel), name, modified));
  }

  async rename(account: Account, id: string, newName: unknown): Promise<Entry> {
    const s = this.space(account);
    const at = this.locate(s, id);
    if (at.kind === 'mount') throw fixedMount(at.mount.name);
    if (at.kind === 'root') return this.fs.rename(account, ROOT_ID, newName);
    if (parentOf(at.place.rel) === '') this.checkTopLevelName(s, { ...at.place, rel: '' }, newName, 'newName');
    return outer(at.place.prefix, await this.fs.rename(at.place.view, encodeId(at.place.rel), newName));
  }

  async remove(account: Account, id: string): Promise<void> {
    const s = this.space(account);
    const at = this.locate(s, id);
    if (at.kind === 'mount') throw fixedMount(at.mount.name);
    if (at.kind === 'root') return this.fs.remove(account, ROOT_ID);
    await this.fs.remove(at.place.view, encodeId(at.place.rel));
  }

  async move(account: Account, id: string, newParentId: unknown): Promise<Entry> {
    const field = 'newParentId';
    if (newParentId === undefined || newParentId === null) throw invalid(field, 'is required');
    if (typeof newParentId !== 'string') throw invalid(field, 'must be a string');
    const s = this.space(account);
    const at = this.locate(s, id);
    if (at.kind === 'mount') throw fixedMount(at.mount.name);
    if (at.kind === 'root') return this.fs.move(account, ROOT_ID, newParentId);
    const src = at.place;
    const dst = this.placeOf(s, newParentId, field);
    this.checkTopLevelName(s, dst, nameOf(src.rel), field);
    if (src.prefix === dst.prefix) return outer(src.prefix, await this.fs.move(src.view, encodeId(src.rel), encodeId(dst.rel)));

    // Between two places: the same checks as a move within one, then the copy goes across.
    this.fs.assertWritable(src.view);
    this.fs.assertWritable(dst.view);
    const target = await this.fs.folderKeyOf(dst.view, encodeId(dst.rel), field);
    const folder = isFolderKey(src.rel);
    const targetRel = `${target}${nameOf(src.rel)}${folder ? '/' : ''}`;
    const srcFull = src.view.root + src.rel;
    const dstFull = dst.view.root + targetRel;
    if (folder && src.view.bucket.scope === dst.view.bucket.scope && (dstFull.startsWith(srcFull) || srcFull.startsWith(dstFull))) {
      throw invalid(field, 'is the folder itself or inside it');
    }
    const bytes = Buffer.byteLength(dstFull, 'utf8');
    if (bytes > MAX_KEY_BYTES) throw invalid(field, `would make the S3 key ${bytes} bytes long; S3 allows ${MAX_KEY_BYTES}`);
    return outer(dst.prefix, await this.fs.relocateBetween(src.view, src.rel, dst.view, targetRel, field, target));
  }

  // ---------------------------------------------------------------- transfers

  async uploadNew(account: Account, parentId: string, name: unknown, d: FileDeclaration, body: Readable): Promise<Entry> {
    const s = this.space(account);
    const place = this.placeOf(s, parentId);
    this.checkTopLevelName(s, place, name, 'name');
    return outer(place.prefix, await this.streamed.uploadNew(await this.fs.viewOf(place.view), encodeId(place.rel), name, d, body));
  }

  async update(account: Account, id: string, d: FileDeclaration, body: Readable): Promise<Entry> {
    const place = this.placeOf(this.space(account), id);
    return outer(place.prefix, await this.streamed.update(await this.fs.viewOf(place.view), encodeId(place.rel), d, body));
  }

  async startUpload(
    account: Account,
    target: UploadTargetInput,
    d: FileDeclaration,
    segments: Parameters<SegmentedUploads['start']>[3],
    signIn: string,
  ): Promise<StartedUpload> {
    const s = this.space(account);
    let place: Place;
    let inner: UploadTargetInput;
    if (target.fileId !== undefined && target.fileId !== null) {
      if (typeof target.fileId !== 'string') throw invalid('fileId', 'must be a string');
      place = this.placeOf(s, target.fileId, 'fileId');
      inner = { fileId: encodeId(place.rel) };
    } else {
      if (typeof target.parentId !== 'string') throw invalid('parentId', "is required (or the file's id, to update a file)");
      place = this.placeOf(s, target.parentId, 'parentId');
      this.checkTopLevelName(s, place, target.name, 'name');
      inner = { parentId: encodeId(place.rel), name: target.name };
    }
    const started = await this.segmented.start(await this.fs.viewOf(place.view), inner, d, segments, signIn);
    return { ...started, id: uploadIdIn(place.prefix, started.id) };
  }

  async uploadSegment(account: Account, uploadId: string, header: SegmentHeader, body: Readable) {
    const u = this.uploadPlace(this.space(account), uploadId);
    return this.segmented.uploadSegment(await this.fs.viewOf(u.view), u.id, header, body);
  }

  async finishUpload(account: Account, target: FinishTarget, d: FileDeclaration, uploadId: unknown, cookie: unknown): Promise<Entry> {
    // Read here too: the id says which place the upload is in.
    if (typeof uploadId !== 'string' || uploadId === '') throw invalid('uploadId', 'is required');
    const s = this.space(account);
    const u = this.uploadPlace(s, uploadId);
    const given = target.id ?? target.parentId ?? '';
    const place = this.placeOf(s, given, 'id');
    if (place.prefix !== u.prefix) throw invalid(target.id ? 'id' : 'name', 'is not the file this upload was started for');
    const inner = target.id !== undefined ? { id: encodeId(place.rel) } : { parentId: encodeId(place.rel), name: target.name };
    return outer(u.prefix, await this.segmented.finish(await this.fs.viewOf(u.view), inner, d, u.id, cookie));
  }

  async cancelUpload(account: Account, uploadId: string): Promise<void> {
    const u = this.uploadPlace(this.space(account), uploadId);
    await this.segmented.cancel(u.view, u.id);
  }

  async download(account: Account, id: string, request: DownloadRequest) {
    const place = this.placeOf(this.space(account), id);
    return this.downloadService.open(await this.fs.viewOf(place.view), encodeId(place.rel), request);
  }

  async downloadHead(account: Account, id: string) {
    const place = this.placeOf(this.space(account), id);
    return this.downloadService.head(await this.fs.viewOf(place.view), encodeId(place.rel));
  }

  async thumbnail(account: Account, id: string) {
    const place = this.placeOf(this.space(account), id);
    return this.thumbnailService.render(await this.fs.viewOf(place.view), encodeId(place.rel));
  }
}
