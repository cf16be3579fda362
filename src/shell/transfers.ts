import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline as pipelineCallback, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createNew, localName, reopenOwn, temporaryName, writePrivateFile } from './local-files.js';
import { GatewayCallError, type Entry, type GatewayClient, type SegmentState, type StartedUpload, type UploadTarget } from './gateway-client.js';
import { progressBar, rateLimit, type Progress } from './progress.js';
import { ShellError, type Place, type Workspace } from './workspace.js';

type EntryPlace = Extract<Place, { kind: 'entry' }>;

export interface TransferOptions {
  quiet: boolean;
  /** Bars even when stderr is not a terminal. */
  progress: boolean;
  /** Bytes per second, for each transfer; undefined: as fast as the network goes. */
  limitRate: number | undefined;
  /** One line per finished file, on stdout. */
  report: (line: string) => void;
}

/**
 * A file's modified time to the nearest millisecond: setting a time goes through a float number of
 * seconds, so 12:00:00.123 is stored as 12:00:00.122999999, and truncating would lose a millisecond on
 * every round trip.
 */
export async function modifiedMs(file: string): Promise<number> {
  return Number(((await stat(file, { bigint: true })).mtimeNs + 500_000n) / 1_000_000n);
}

/** sha256 (hex) of a file, read as a stream. */
async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Streams joined so that an error anywhere ends them all (`.pipe` would leave the request waiting). */
function chain(source: Readable, ...stages: Transform[]): Readable {
  return pipelineCallback([source, ...stages], () => undefined) as unknown as Readable;
}

/** A fetch body as a Node stream. */
const readable = (body: ReadableStream<Uint8Array>): Readable => Readable.fromWeb(body);

// ---------------------------------------------------------------- upload

interface ResumeState {
  uploadId: string;
  cookie: string;
  expiresAt: number;
  segments: SegmentState[];
  sent: number[];
}

/** Where an interrupted upload of this file to this place keeps its state, until it finishes. */
function resumeFile(ws: Workspace, parent: EntryPlace, name: string, local: string, size: number, modified: number): string {
  const key = createHash('sha256')
    .update(JSON.stringify([parent.client.baseUrl, parent.entry.id, name, path.resolve(local), size, modified]))
    .digest('hex');
  return path.join(ws.config.uploadsDir, `${key.slice(0, 32)}.json`);
}

async function readResume(file: string): Promise<ResumeState | undefined> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as ResumeState;
    // An upload about to expire on the gateway is not worth resuming.
    return state.expiresAt === 0 || state.expiresAt > Date.now() + 60_000 ? state : undefined;
  } catch {
    return undefined;
  }
}

const writeResume = (file: string, state: ResumeState) => writePrivateFile(file, JSON.stringify(state));

/**
 * One local file into a remote folder: in one request, or in segments (resumable) above the gateway's
 * segment size. A gateway that announced no segment size, or has no segmented uploads, takes any size
 * in one request.
 */
async function uploadFile(ws: Workspace, parent: EntryPlace, local: string, name: string, opts: TransferOptions): Promise<Entry> {
  const st = await stat(local);
  const size = st.size;
  const modified = await modifiedMs(local);
  const existing = await ws.childNamed(parent, name);
  if (existing?.type === 'folder') throw new ShellError(`${parent.path}/${name}: is a folder; cannot replace it with a file`);
  const target: UploadTarget = existing ? { existing } : { parentId: parent.entry.id, name };
  const segmentSize = ws.mount(parent.mount).segmentSize;
  let entry = segmentSize && size > segmentSize ? await uploadInSegments(ws, parent, target, local, name, { size, modified, segmentSize }, opts) : undefined;
  entry ??= await uploadInOneRequest(parent, target, local, name, { size, modified }, opts);
  ws.added(parent, entry);
  opts.report(`uploaded ${local} → ${parent.path}/${name} (${size} bytes)`);
  return entry;
}

async function uploadInOneRequest(
  parent: EntryPlace,
  target: UploadTarget,
  local: string,
  name: string,
  file: { size: number; modified: number },
  opts: TransferOptions,
): Promise<Entry> {
  const sha256 = await sha256Of(local);
  const progress = progressBar(`upload ${name}`, file.size, opts);
  try {
    return await parent.client.upload(target, { ...file, sha256 }, () => ({
      body: chain(createReadStream(local), rateLimit(opts.limitRate), progress.counter()),
      length: file.size,
    }));
  } finally {
    progress.stop();
  }
}

/** A large file in segments; undefined when the gateway turns out to have no segmented uploads (404 on start). */
async function uploadInSegments(
  ws: Workspace,
  parent: EntryPlace,
  target: UploadTarget,
  local: string,
  name: string,
  file: { size: number; modified: number; segmentSize: number },
  opts: TransferOptions,
): Promise<Entry | undefined> {
  const stateFile = resumeFile(ws, parent, name, local, file.size, file.modified);
  let state = await readResume(stateFile);
  if (state) {
    opts.report(`resuming upload of ${local}: ${state.sent.length} of ${state.segments.length} segments already sent`);
  } else {
    // One pass over the file: each segment's sha256 for the plan, and the whole file's for the gateway to check.
    const whole = createHash('sha256');
    const plan: Array<{ number: number; size: number; sha256: string }> = [];
    for (let start = 0, n = 1; start < file.size; start += file.segmentSize, n++) {
      const size = Math.min(file.segmentSize, file.size - start);
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(local, { start, end: start + size - 1 })) {
        hash.update(chunk as Buffer);
        whole.update(chunk as Buffer);
      }
      plan.push({ number: n, size, sha256: hash.digest('hex') });
    }
    let started: StartedUpload;
    try {
      started = await parent.client.startUpload(target, { ...file, sha256: whole.digest('hex') }, plan);
    } catch (err) {
      if (err instanceof GatewayCallError && err.status === 404) return undefined;
      throw err;
    }
    state = { uploadId: started.id, cookie: started.cookie, expiresAt: started.expiresAt, segments: started.segments, sent: [] };
    await writeResume(stateFile, state);
  }

  const sentBytes = state.segments.filter((s) => state.sent.includes(s.number)).reduce((n, s) => n + s.size, 0);
  const progress = progressBar(`upload ${name}`, file.size, { ...opts, start: sentBytes });
  try {
    for (const [i, segment] of state.segments.entries()) {
      if (state.sent.includes(segment.number)) continue;
      const start = (segment.number - 1) * file.segmentSize;
      let answered: { segment: SegmentState; uploadCookie: string };
      try {
        answered = await parent.client.sendSegment({ id: state.uploadId, cookie: state.cookie }, segment, () => ({
          body: chain(createReadStream(local, { start, end: start + segment.size - 1 }), rateLimit(opts.limitRate), progress.counter()),
          length: segment.size,
        }));
      } catch (err) {
        if (err instanceof GatewayCallError && err.status === 404) {
          await rm(stateFile, { force: true });
          throw new ShellError(`${err.message}; the upload expired or was cancelled: run the command again to start over`);
        }
        throw err;
      }
      state.segments[i] = answered.segment;
      state.cookie = answered.uploadCookie;
      state.sent.push(segment.number);
      await writeResume(stateFile, state);
    }
  } finally {
    progress.stop();
  }
  const entry = await parent.client.finishUpload(target, file, { id: state.uploadId, cookie: state.cookie, segments: state.segments });
  await rm(stateFile, { force: true });
  return entry;
}

/** Files and folders, recursively, into a remote folder. */
export async function uploadTree(ws: Workspace, parent: EntryPlace, local: string, opts: TransferOptions): Promise<void> {
  const st = await stat(local).catch(() => {
    throw new ShellError(`${local}: no such local file or folder`);
  });
  const name = path.basename(path.resolve(local));
  if (!st.isDirectory()) {
    await uploadFile(ws, parent, local, name, opts);
    return;
  }
  const existing = await ws.childNamed(parent, name);
  if (existing && existing.type !== 'folder') throw new ShellError(`${parent.path}/${name}: is a file; cannot upload a folder onto it`);
  const folder = existing ?? (await parent.client.mkdir(parent.entry.id, name, await modifiedMs(local)));
  ws.added(parent, folder);
  const place: EntryPlace = { ...parent, entry: folder, path: `${parent.path}/${name}` };
  for (const child of (await readdir(local, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (child.isFile() || child.isDirectory()) await uploadTree(ws, place, path.join(local, child.name), opts);
  }
}

// ---------------------------------------------------------------- download

/** Writes into an open file, one chunk at a time, leaving it open (the download has more to do through it). */
function writerTo(handle: FileHandle): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      handle.write(chunk).then(() => done(), done);
    },
  });
}

/** What an interrupted download keeps to resume: the file it was (as the gateway described it) and its partial file's name. */
interface DownloadState {
  identity: string;
  partial: string;
}

/** Where an interrupted download to this local path keeps its state, in the shell's own folder (nobody else's to change). */
function downloadStateFile(ws: Workspace, local: string): string {
  const key = createHash('sha256').update(path.resolve(local)).digest('hex');
  return path.join(ws.config.downloadsDir, `${key.slice(0, 32)}.json`);
}

async function readDownloadState(file: string): Promise<DownloadState | undefined> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as Partial<DownloadState>;
    // Only a name in the target folder, as this shell wrote it.
    if (typeof state.identity !== 'string' || typeof state.partial !== 'string' || path.basename(state.partial) !== state.partial) return undefined;
    return state as DownloadState;
  } catch {
    return undefined;
  }
}

/**
 * One remote file to a local path, through a partial file made exclusively under a name nobody can guess
 * (so that nobody sharing the folder can plant a link for the shell to write through); an interrupted
 * download resumes with a byte range where the gateway offers one.
 */
async function downloadFile(ws: Workspace, client: GatewayClient, entry: Entry, local: string, opts: TransferOptions): Promise<void> {
  const stateFile = downloadStateFile(ws, local);
  const identity = JSON.stringify({ gateway: client.baseUrl, id: entry.id, size: entry.size, hash: entry.hash, modified: entry.modified });
  const previous = await readDownloadState(stateFile);
  let partial = previous ? path.join(path.dirname(local), previous.partial) : '';
  let handle = previous?.identity === identity ? await reopenOwn(partial) : undefined;
  let offset = handle ? (await handle.stat()).size : 0;
  if (handle && entry.size !== undefined && offset > entry.size) {
    await handle.close();
    handle = undefined;
  }
  if (!handle) {
    // What an earlier try left is of no use (or was replaced): removed, a link rather than what it points to.
    if (previous) await rm(partial, { force: true }).catch(() => undefined);
    partial = temporaryName(local, 'gws-partial');
    offset = 0;
    // The state first: a download killed right after making its partial file still knows it.
    await writePrivateFile(stateFile, JSON.stringify({ identity, partial: path.basename(partial) } satisfies DownloadState));
    handle = await createNew(partial);
  }
  if (offset > 0) opts.report(`resuming download of ${entry.name} at byte ${offset}`);

  let progress: Progress | undefined;
  let got: number;
  try {
    if (entry.size === undefined || offset < entry.size || entry.size === 0) {
      const { body, from } = await client.download(entry.id, offset, entry.hash);
      if (offset > 0 && from === 0) {
        opts.report(`the gateway sent ${entry.name} whole (no byte ranges): downloading it from the start`);
        await handle.truncate(0);
      }
      progress = progressBar(`download ${entry.name}`, entry.size ?? 0, { ...opts, start: from });
      await pipeline(readable(body), rateLimit(opts.limitRate), progress.counter(), writerTo(handle));
    }
    got = (await handle.stat()).size;
    if (entry.size !== undefined && got !== entry.size) {
      throw new ShellError(`download of ${entry.name} ended at ${got} of ${entry.size} bytes; run the command again to resume`);
    }
    // Through the handle: the path could be made a link to something else by then.
    if (entry.modified > 0) await handle.utimes(new Date(), new Date(entry.modified));
  } finally {
    progress?.stop();
    await handle.close();
  }
  await rename(partial, local);
  await rm(stateFile, { force: true });
  opts.report(`downloaded ${entry.name} → ${local} (${got} bytes)`);
}

/** Files and folders, recursively, into a local folder. */
export async function downloadTree(ws: Workspace, place: EntryPlace, localDir: string, opts: TransferOptions): Promise<void> {
  const local = path.join(localDir, localName(place.entry.name));
  if (place.entry.type === 'file') {
    await downloadFile(ws, place.client, place.entry, local, opts);
    return;
  }
  await mkdir(local, { recursive: true });
  for (const child of await ws.childrenOf(place.client, place.entry.id)) {
    await downloadTree(ws, { ...place, entry: child, path: `${place.path}/${child.name}` }, local, opts);
  }
}

// ---------------------------------------------------------------- copy between gateways

/**
 * Streams a file or folder from one mounted gateway into a folder of another (or the same): nothing touches
 * local disk, but for files whose size the source gateway does not tell.
 */
export async function copyTree(ws: Workspace, from: EntryPlace, into: EntryPlace, opts: TransferOptions): Promise<void> {
  const name = from.entry.name;
  if (from.client.baseUrl === into.client.baseUrl && (into.path === from.path || into.path.startsWith(`${from.path}/`))) {
    throw new ShellError(`${from.path}: cannot copy a folder into itself`);
  }
  const existing = await ws.childNamed(into, name);
  if (from.entry.type === 'folder') {
    if (existing && existing.type !== 'folder') throw new ShellError(`${into.path}/${name}: is a file; cannot copy a folder onto it`);
    const folder = existing ?? (await into.client.mkdir(into.entry.id, name, from.entry.modified || Date.now()));
    ws.added(into, folder);
    const target: EntryPlace = { ...into, entry: folder, path: `${into.path}/${name}` };
    for (const child of await ws.childrenOf(from.client, from.entry.id))
      await copyTree(ws, { ...from, entry: child, path: `${from.path}/${child.name}` }, target, opts);
    return;
  }
  if (existing?.type === 'folder') throw new ShellError(`${into.path}/${name}: is a folder; cannot replace it with a file`);
  const target: UploadTarget = existing ? { existing } : { parentId: into.entry.id, name };
  const modified = from.entry.modified || Date.now();
  const size = from.entry.size ?? (await from.client.facts(from.entry.id)).size;
  const copied =
    size !== undefined
      ? await copyBytes(into, target, name, { size, modified }, async () => readable((await from.client.download(from.entry.id)).body), opts)
      : // An upload declares its size first: the bytes of a file whose size the gateway never says go through a temporary file.
        await throughTemporaryFile(from.client, from.entry, (file, size) =>
          copyBytes(into, target, name, { size, modified }, async () => createReadStream(file), opts),
        );
  ws.added(into, copied);
  opts.report(`copied ${from.path} → ${into.path}/${name} (${copied.size ?? size} bytes)`);
}

/** Uploads the bytes `source` gives, with a progress bar. */
async function copyBytes(
  into: EntryPlace,
  target: UploadTarget,
  name: string,
  file: { size: number; modified: number },
  source: () => Promise<Readable>,
  opts: TransferOptions,
): Promise<Entry> {
  const progress: Progress = progressBar(`copy ${name}`, file.size, opts);
  try {
    // One streamed request: the gateway takes any size in one upload, and a segment plan would need every hash first.
    return await into.client.upload(target, file, async () => ({
      body: chain(await source(), rateLimit(opts.limitRate), progress.counter()),
      length: file.size,
    }));
  } finally {
    progress.stop();
  }
}

/** Downloads a file into a temporary folder, runs `use` on it and its size, and removes the folder. */
async function throughTemporaryFile<T>(client: GatewayClient, entry: Entry, use: (file: string, size: number) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gws-copy-'));
  try {
    const file = path.join(dir, 'bytes');
    await pipeline(readable((await client.download(entry.id)).body), createWriteStream(file, { mode: 0o600 }));
    return await use(file, (await stat(file)).size);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
