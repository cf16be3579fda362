import { createInterface, type CompleterResult } from 'node:readline';
import { posix } from 'node:path';
import stringArgv from 'string-argv';
import { needsEscaping, terminalSafe } from './terminal-text.js';
import { TOP, type Workspace } from './workspace.js';

const COMMANDS = ['cd', 'copy', 'diagnostic', 'download', 'exit', 'help', 'ls', 'mkdir', 'mounts', 'mv', 'pwd', 'rename', 'rm', 'stat', 'upload'];

/** Remote names that complete the word being typed: commands first, then paths (folders end in "/"). */
export async function complete(ws: Workspace, line: string): Promise<CompleterResult> {
  const words = line.split(/\s+/);
  const word = words[words.length - 1] ?? '';
  if (words.length <= 1) return [COMMANDS.filter((c) => c.startsWith(word)), word];
  const slash = word.lastIndexOf('/');
  const dir = slash < 0 ? '' : word.slice(0, slash + 1);
  const stem = word.slice(slash + 1);
  try {
    const place = await ws.locate(dir === '' ? '.' : dir);
    let names: string[];
    if (place.kind === 'top') names = Object.keys(ws.state.mounts).map((n) => `${n}/`);
    else if (place.entry.type !== 'folder') names = [];
    else names = (await ws.childrenOf(place.client, place.entry.id)).map((e) => `${e.name}${e.type === 'folder' ? '/' : ''}`);
    // Names with spaces need quotes on the line; offering them bare would split them.
    return [names.filter((n) => n.startsWith(stem) && !/\s/.test(n) && !needsEscaping(n)).map((n) => `${dir}${n}`), word];
  } catch {
    return [[], word];
  }
}

/** The prompt: one command per line, with tab completion of remote paths, until exit or end of input. */
export async function interactive(ws: Workspace, runLine: (ws: Workspace, args: string[], opts: { interactive: boolean }) => Promise<number>): Promise<number> {
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: process.stdin.isTTY === true,
    completer: (line: string, cb: (err: null, result: CompleterResult) => void) => {
      void complete(ws, line).then((r) => cb(null, r));
    },
  });
  // Piped commands (a script) get no prompts in their output.
  const showPrompt = process.stdin.isTTY === true;
  const prompt = () => {
    if (!showPrompt) return;
    const here = ws.cwd === TOP ? TOP : `${TOP}/…/${posix.basename(ws.cwd)}`;
    rl.setPrompt(`gws ${terminalSafe(ws.cwd.length > 40 ? here : ws.cwd)}> `);
    rl.prompt();
  };
  let last = 0;
  prompt();
  for await (const line of rl) {
    const args = stringArgv(line.trim());
    if (args[0] === 'exit' || args[0] === 'quit') break;
    if (args.length > 0) {
      rl.pause();
      last = await runLine(ws, args[0] === 'help' ? ['--help'] : args, { interactive: process.stdin.isTTY === true });
      ws.changed();
      rl.resume();
    }
    prompt();
  }
  rl.close();
  return last;
}
