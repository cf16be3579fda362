import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { input, password } from '@inquirer/prompts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { GatewayClient, type Entry, type FormField, type SignedIn } from './gateway-client.js';
import { waitForOAuthSignIn } from './oauth-sign-in.js';
import { bytes } from './progress.js';
import { copyTree, downloadTree, uploadTree, type TransferOptions } from './transfers.js';
import { ShellError, TOP, type Workspace } from './workspace.js';

export interface Io {
  out: (line: string) => void;
  /** A line on stderr that does not stop the command. */
  warn: (line: string) => void;
  /** True when a person can answer prompts. */
  interactive: boolean;
}

/** "10M", "512k", "1.5G" or a plain number of bytes per second. */
export function parseRate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('use bytes per second, e.g. 500k, 10M or 1G');
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.max(1, Math.floor(Number(m[1]) * unit));
}

const SECRET_FIELD = /password|secret|token|key/i;

/** The sign-in form's answers: those given with --field, the others asked (hidden where secret). */
async function formAnswers(form: FormField[], given: Record<string, string>, io: Io): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const f of form) {
    if (given[f.name] !== undefined) {
      fields[f.name] = given[f.name]!;
      continue;
    }
    if (!io.interactive) {
      if (f.required) throw new ShellError(`the gateway asks for "${f.name}" (${f.prompt}): pass --field ${f.name}=<value>`);
      continue;
    }
    const ask = SECRET_FIELD.test(f.name) || SECRET_FIELD.test(f.prompt) ? password : input;
    const answer = await ask({ message: f.prompt, ...(f.required ? { validate: (v: string) => (v !== '' ? true : 'required') } : {}) });
    if (answer !== '') fields[f.name] = answer;
  }
  return fields;
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 86_400) throw new InvalidArgumentError('use a whole number of seconds, 1 to 86400');
  return n;
}

/** A host on this machine: plain HTTP to it never crosses a network. */
const isLoopback = (host: string) => host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';

function collectField(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('use name=value');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

const when = (ms: number) => (ms > 0 ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');

function longLine(e: Entry): string {
  const size = e.type === 'folder' ? '-' : String(e.size ?? '?');
  return `${e.type === 'folder' ? 'd' : '-'} ${size.padStart(12)}  ${when(e.modified)}  ${e.name}${e.type === 'folder' ? '/' : ''}`;
}

/** What the thumbnail route's answer for one file says about the gateway. */
function thumbnailsSaid(status: number, name: string): string {
  if (status === 200) return `yes (${name})`;
  if (status === 403) return `offered, not available for ${name}`;
  // The file was just listed, so a 404 (or 405, 501) is the route's: the gateway serves no thumbnails.
  if (status === 404 || status === 405 || status === 501) return `no: the gateway serves none (${status})`;
  return `unknown (${status} for ${name})`;
}

/** What the answer to a one-byte range says. */
function rangesSaid(status: number): string {
  if (status === 206) return 'yes: interrupted downloads resume';
  if (status === 200) return 'no: interrupted downloads start over';
  return `unknown (${status})`;
}

/**
 * Every command of the shell, for one invocation (a one-shot run, or one line at the interactive prompt).
 * Actions throw ShellError or GatewayCallError; the caller turns them into one line and an exit code.
 */
export function buildProgram(ws: Workspace, io: Io): Command {
  const program = new Command('gws')
    .description('Gateway Shell: browse, upload and download the files of odrive Storage Gateways (Gateway API v2, final dialect)')
    .option('-q, --quiet', 'no progress bars')
    .option('--progress', 'progress bars even when stderr is not a terminal (a line a second, for logs)')
    .addOption(new Option('--limit-rate <rate>', 'cap each transfer at this many bytes per second (e.g. 500k, 10M)').argParser(parseRate))
    .showHelpAfterError()
    .exitOverride();

  const transfer = (): TransferOptions => {
    const o = program.opts<{ quiet?: boolean; progress?: boolean; limitRate?: number }>();
    return { quiet: o.quiet === true, progress: o.progress === true, limitRate: o.limitRate, report: io.out };
  };

  // ---------------------------------------------------------------- mounts
  const mounts = program.command('mounts').description('the gateways this shell is signed in to, under /gateway/<name>');
  mounts
    .command('add <name> <url>')
    .description(
      'sign in to a gateway: the fields its sign-in form asks for are prompted one by one, or (oauth) the person signs in at the address shown, in a browser',
    )
    .option('-f, --field <name=value>', 'a sign-in field given on the command line (repeatable)', collectField, {})
    .option('--no-browser', 'oauth: only show the address to sign in at, without opening a browser')
    .option('--wait <seconds>', 'oauth: how long to wait for the sign-in in the browser', parseSeconds, 300)
    .action(async (name: string, url: string, opts: { field: Record<string, string>; browser: boolean; wait: number }) => {
      if (!/^[\w.-]+$/.test(name)) throw new ShellError(`mount name "${name}": use letters, digits, ".", "_" or "-"`);
      let base: URL;
      try {
        base = new URL(url);
      } catch {
        throw new ShellError(`${url}: not a URL (e.g. http://127.0.0.1:8080)`);
      }
      if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ShellError(`${url}: use http:// or https://`);
      const baseUrl = base.href.replace(/\/+$/, '');
      if (base.protocol === 'http:' && !isLoopback(base.hostname)) {
        io.warn(`${baseUrl} is not encrypted: the sign-in fields and every token will travel in clear; use https://`);
      }
      const method = await GatewayClient.authMethod(baseUrl);
      let signed: SignedIn;
      if ('state' in method) {
        signed = await waitForOAuthSignIn(baseUrl, method.url, method.state, {
          say: io.out,
          openBrowser: opts.browser && io.interactive,
          timeoutMs: opts.wait * 1000,
        });
      } else if (method.method === 'form' && 'fields' in method) {
        signed = await GatewayClient.signIn(baseUrl, await formAnswers(method.fields, opts.field, io));
      } else {
        throw new ShellError(`${baseUrl} signs in with "${method.method}"; this shell supports sign-in forms and oauth only`);
      }
      await ws.addMount(name, {
        url: baseUrl,
        accessToken: signed.accessToken,
        refreshToken: signed.refreshToken,
        rootId: signed.rootId,
        segmentSize: signed.segmentSize,
      });
      io.out(`mounted ${baseUrl} at ${TOP}/${name}`);
    });
  mounts
    .command('list')
    .description('the mounts and their gateways')
    .action(() => {
      const all = Object.entries(ws.state.mounts);
      if (all.length === 0) io.out('no mounts yet: mounts add <name> <url>');
      for (const [name, m] of all) io.out(`${TOP}/${name}\t${m.url}`);
    });
  mounts
    .command('remove <name>')
    .description('sign out of a gateway and forget it')
    .action(async (name: string) => {
      ws.mount(name);
      await ws
        .client(name)
        .signOut()
        .catch(() => undefined); // forget it even when the gateway is gone
      await ws.removeMount(name);
      io.out(`removed ${TOP}/${name}`);
    });

  // ---------------------------------------------------------------- browsing
  program
    .command('ls [path]')
    .description('list a folder (or show a file)')
    .option('-l', 'long listing: type, size, modified time, name')
    .action(async (p: string | undefined, opts: { l?: boolean }) => {
      const place = await ws.locate(p);
      if (place.kind === 'top') {
        for (const name of Object.keys(ws.state.mounts)) io.out(opts.l ? `d ${'-'.padStart(12)}  ${'-'.padEnd(20)}  ${name}/` : `${name}/`);
        return;
      }
      const entries = place.entry.type === 'folder' ? [...(await ws.childrenOf(place.client, place.entry.id))] : [place.entry];
      entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)); // as ls does, whatever order the gateway lists in
      for (const e of entries) io.out(opts.l ? longLine(e) : `${e.name}${e.type === 'folder' ? '/' : ''}`);
    });
  program
    .command('cd [path]')
    .description(`change the working folder (default ${TOP})`)
    .action(async (p: string | undefined) => {
      const place = await ws.locate(p ?? TOP);
      if (place.kind === 'entry' && place.entry.type !== 'folder') throw new ShellError(`${place.path}: not a folder`);
      await ws.setCwd(place.kind === 'top' ? TOP : place.path);
    });
  program
    .command('pwd')
    .description('the working folder')
    .action(() => io.out(ws.cwd));
  program
    .command('stat <path>')
    .description('everything the gateway says about a file or folder')
    .action(async (p: string) => {
      const place = await ws.entryAt(p);
      // The gateway's get-entry over what the listing said: a listing may carry less.
      const entry: Entry = { ...place.entry, ...(await place.client.facts(place.entry.id)) };
      io.out(`path:     ${place.path}`);
      io.out(`type:     ${entry.type}`);
      io.out(`id:       ${entry.id}`);
      if (entry.type === 'file')
        io.out(`size:     ${entry.size === undefined ? 'unknown (the gateway does not say)' : `${entry.size} bytes (${bytes(entry.size)})`}`);
      io.out(`modified: ${when(entry.modified)}`);
      if (entry.hash) io.out(`hash:     ${entry.hash}`);
    });

  // ---------------------------------------------------------------- organising
  program
    .command('mkdir <path...>')
    .description('new folders (their parents must exist)')
    .action(async (paths: string[]) => {
      for (const p of paths) {
        const { parent, name } = await ws.parentOf(p);
        const existing = await ws.childNamed(parent, name);
        if (existing) throw new ShellError(`${parent.path}/${name}: already exists`);
        ws.added(parent, await parent.client.mkdir(parent.entry.id, name));
      }
    });
  program
    .command('rename <path> <new-name>')
    .description('rename a file or folder in place')
    .action(async (p: string, name: string) => {
      if (name.includes('/')) throw new ShellError(`${name}: a name cannot hold "/"; use mv to move`);
      const place = await ws.entryAt(p);
      ws.assertNotRoot(place, 'rename');
      await place.client.rename(place.entry, name);
      ws.changed();
    });
  program
    .command('mv <path> <destination>')
    .description('move into a folder, or to a new path (moved, then renamed)')
    .action(async (p: string, dest: string) => {
      const from = await ws.entryAt(p);
      ws.assertNotRoot(from, 'move');
      let into = await ws.locate(dest).catch(() => undefined);
      let newName: string | undefined;
      if (!into || into.kind === 'top' || into.entry.type !== 'folder') {
        if (into && into.kind === 'entry') throw new ShellError(`${into.path}: already exists`);
        const target = await ws.parentOf(dest);
        into = target.parent;
        newName = target.name;
      }
      if (into.kind !== 'entry' || into.mount !== from.mount) throw new ShellError('mv works within one mount; use copy between gateways');
      let entry = from.entry;
      if (posix.dirname(from.path) !== into.path) {
        entry = await from.client.move(entry, into.entry.id);
      }
      if (newName !== undefined && newName !== entry.name) await from.client.rename(entry, newName);
      ws.changed();
    });
  program
    .command('rm <path...>')
    .description('delete files (and folders with -r)')
    .option('-r, --recursive', 'delete folders and everything in them')
    .action(async (paths: string[], opts: { recursive?: boolean }) => {
      for (const p of paths) {
        const place = await ws.entryAt(p);
        ws.assertNotRoot(place, 'delete');
        if (place.entry.type === 'folder' && !opts.recursive) throw new ShellError(`${place.path}: is a folder; use rm -r`);
        await place.client.remove(place.entry);
        ws.changed();
      }
    });

  // ---------------------------------------------------------------- transfers
  program
    .command('upload <local...>')
    .description('upload local files and folders (recursively) into the remote folder given last, like cp (one argument: into the working folder)')
    .action(async (args: string[]) => {
      const remote = args.length > 1 ? args[args.length - 1] : undefined;
      const into = await ws.folderAt(remote);
      for (const local of args.length > 1 ? args.slice(0, -1) : args) await uploadTree(ws, into, local, transfer());
    });
  program
    .command('download <remote...>')
    .description('download remote files and folders (recursively) into the local folder given last, like cp (one argument: into the current folder)')
    .action(async (args: string[]) => {
      const localDir = args.length > 1 ? args[args.length - 1]! : '.';
      if (!(await stat(localDir).catch(() => undefined))?.isDirectory()) throw new ShellError(`${localDir}: no such local folder`);
      for (const r of args.length > 1 ? args.slice(0, -1) : args) await downloadTree(ws, await ws.entryAt(r), localDir, transfer());
    });
  program
    .command('copy <from> <to-folder>')
    .description('copy a file or folder into a folder, between two mounted gateways or within one, streaming')
    .action(async (from: string, to: string) => {
      await copyTree(ws, await ws.entryAt(from), await ws.folderAt(to), transfer());
    });

  // ---------------------------------------------------------------- diagnostic
  program
    .command('diagnostic [mount]')
    .description("a gateway's dialect, sign-in, segment size, thumbnails, byte ranges and latency")
    .action(async (name: string | undefined) => {
      const here = ws.cwd.slice(TOP.length).split('/').filter(Boolean)[0];
      const mountName = name ?? here ?? Object.keys(ws.state.mounts)[0];
      if (!mountName) throw new ShellError('no mounts yet: mounts add <name> <url>');
      const m = ws.mount(mountName);
      const client = ws.client(mountName);
      const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
        const t = performance.now();
        const v = await fn();
        return [v, performance.now() - t];
      };
      io.out(`gateway:      ${m.url} (${TOP}/${mountName})`);
      const [method, authMs] = await timed(() => GatewayClient.authMethod(m.url));
      io.out(`dialect:      final (GET /v2/gateway_auth_method answered in ${authMs.toFixed(1)} ms)`);
      io.out(`sign-in:      ${method.method}${'fields' in method ? ` (${method.fields.map((f) => f.name).join(', ')})` : ''}`);
      io.out(
        `segment size: ${m.segmentSize ? `${m.segmentSize} bytes (${bytes(m.segmentSize)}); larger files upload in segments` : 'none announced; every file uploads in one request'}`,
      );
      io.out(
        `refresh:      ${m.refreshToken ? 'yes; an expired access token is renewed unseen' : 'no refresh token; when the access token expires, sign in again (mounts add)'}`,
      );
      const times: number[] = [];
      for (let i = 0; i < 5; i++) times.push((await timed(() => client.facts(m.rootId)))[1]);
      times.sort((a, b) => a - b);
      io.out(`latency:      get entry of the root, 5 calls: median ${times[2]!.toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times[4]!.toFixed(1)} ms`);
      const [children, listMs] = await timed(async () => {
        const all: Entry[] = [];
        for await (const e of client.children(m.rootId)) all.push(e);
        return all;
      });
      io.out(`listing:      the root, ${children.length} entries in ${listMs.toFixed(1)} ms`);
      const files = children.filter((e) => e.type === 'file');
      const file = files.find((e) => /\.(jpe?g|png|webp|gif|tiff?|avif)$/i.test(e.name)) ?? files[0];
      if (!file) {
        io.out('thumbnails:   unknown (no file in the root to ask about)');
        io.out('byte ranges:  unknown (no file in the root to ask about)');
        return;
      }
      io.out(`thumbnails:   ${thumbnailsSaid(await client.thumbnailStatus(file.id), file.name)}`);
      const withBytes = files.find((e) => e.size !== 0); // (a size the listing does not give may be anything)
      io.out(`byte ranges:  ${withBytes ? rangesSaid(await client.rangeStatus(withBytes.id)) : 'unknown (no file in the root with bytes to ask about)'}`);
    });

  return program;
}
