import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ShellError } from './workspace.js';

/*
 * Files the shell writes where someone else may write too (a shared download folder, a configuration
 * path given by GWS_CONFIG): each is created exclusively under a name nobody can guess, never through a
 * link planted in advance, and becomes its final name by a rename, which replaces a link rather than
 * following it.
 */

// Windows has no O_NOFOLLOW (and making links there needs a privilege): 0 leaves the flags as they are.
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;
const APPEND_EXISTING = constants.O_WRONLY | constants.O_APPEND | NOFOLLOW;

/** A name beside `file` for it to be written under first: its own name (shortened) and 16 random hex digits. */
export function temporaryName(file: string, suffix: string): string {
  const base = path.basename(file);
  let kept = '';
  // Under 255 bytes whatever the name: a long one is shortened, by whole characters.
  for (const ch of base) {
    if (Buffer.byteLength(kept + ch) > 160) break;
    kept += ch;
  }
  return path.join(path.dirname(file), `${kept}.${randomBytes(8).toString('hex')}.${suffix}`);
}

/** Creates `file`, which must not exist (not even as a link), for writing. */
export function createNew(file: string, mode = 0o666): Promise<FileHandle> {
  return open(file, CREATE_NEW, mode);
}

/**
 * Opens a file this shell created earlier, to append to it; undefined when it is gone, or has become
 * anything but a plain file of this user's with one name (a link put in its place, a hard link to another file).
 */
export async function reopenOwn(file: string): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, APPEND_EXISTING);
  } catch {
    return undefined;
  }
  const st = await handle.stat();
  const mine = process.getuid === undefined || st.uid === process.getuid();
  if (st.isFile() && st.nlink === 1 && mine) return handle;
  await handle.close();
  return undefined;
}

/** Writes a file readable by its owner only, whole or not at all (a temporary file, then a rename). */
export async function writePrivateFile(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = temporaryName(file, 'tmp');
  const handle = await createNew(temp, 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, file);
}

const WINDOWS_DEVICES = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;
// eslint-disable-next-line no-control-regex -- control characters are what Windows refuses
const WINDOWS_FORBIDDEN = /[<>:"|?*\u0000-\u001f]/u;

/** Why Windows cannot hold `name` as a file or folder name; undefined when it can. */
export function windowsNameProblem(name: string): string | undefined {
  const forbidden = WINDOWS_FORBIDDEN.exec(name);
  if (forbidden) return `it contains ${JSON.stringify(forbidden[0])}`;
  if (/[. ]$/.test(name)) return 'it ends with a dot or a space';
  // "CON", "con.txt", "Nul .tar.gz": a device, whatever follows the first dot.
  if (WINDOWS_DEVICES.test(name.split('.')[0]!.trimEnd())) return 'it is the name of a device';
  return undefined;
}

/** A name from the gateway as a local file name: never one that would climb out of the target folder, nor one the system cannot hold. */
export function localName(name: string, platform: NodeJS.Platform = process.platform): string {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new ShellError(`the gateway sent the name ${JSON.stringify(name)}, which cannot be a local file name; nothing written for it`);
  }
  const problem = platform === 'win32' ? windowsNameProblem(name) : undefined;
  if (problem) throw new ShellError(`the gateway sent the name ${JSON.stringify(name)}, which Windows cannot hold (${problem}); nothing written for it`);
  return name;
}
