import { spawn } from 'node:child_process';
import { GatewayCallError, GatewayClient, type SignedIn } from './gateway-client.js';
import { ShellError } from './workspace.js';

export interface OAuthWait {
  /** Where the lines for the person go: the address to open, and what happened. */
  say: (line: string) => void;
  /** Open the address in the system's browser (when there is a display to show it on). */
  openBrowser: boolean;
  timeoutMs: number;
}

/** The system's way to open an address in its browser; undefined where there is nothing to show one on. */
function browserCommand(url: string): [string, string[]] | undefined {
  if (process.platform === 'darwin') return ['open', [url]];
  if (process.platform === 'win32') return ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]];
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) return ['xdg-open', [url]];
  return undefined;
}

function openInBrowser(url: string): boolean {
  const command = browserCommand(url);
  if (!command) return false;
  try {
    const child = spawn(command[0], command[1], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The oauth sign-in of the Gateway API: the person signs in at `url` in a browser while the shell asks the
 * gateway, with backoff, whether the state has been signed in. The spec answers 403 both while waiting
 * and when the sign-in failed: the first answer (asked at once, before anyone could sign in) is the
 * gateway's "not yet"; a 403 that says something else is the outcome.
 */
export async function waitForOAuthSignIn(baseUrl: string, url: string, state: string, o: OAuthWait): Promise<SignedIn> {
  o.say(`sign in in a browser at this address: ${url}`);
  if (o.openBrowser && openInBrowser(url)) o.say('(opened in your browser)');
  const until = Date.now() + o.timeoutMs;
  let notYet: string | undefined;
  let delay = 1000;
  for (;;) {
    try {
      return await GatewayClient.collectOAuth(baseUrl, state);
    } catch (err) {
      if (!(err instanceof GatewayCallError)) throw err;
      const waiting = err.status === 0 || err.status === 429 || err.status === 503 || (err.status === 403 && (notYet ??= err.message) === err.message);
      if (!waiting) throw new ShellError(`not signed in: ${err.message}`);
    }
    if (Date.now() + delay > until)
      throw new ShellError(`not signed in: nobody finished signing in within ${Math.round(o.timeoutMs / 1000)} s; run mounts add again`);
    await pause(delay);
    delay = Math.min(5000, Math.round(delay * 1.5));
  }
}
