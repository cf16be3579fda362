/**
 * Text from a gateway (file names, error messages) as it may reach a terminal: control characters (C0,
 * DEL, C1, among them ESC and CSI, which start terminal commands; a newline, which would start a line of
 * its own) and bidirectional overrides (which make a name read as another) are shown escaped, never sent.
 * A tab only moves the cursor, and separates our own columns: it goes through.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** True when a text would be shown escaped (completion does not offer such names: they could not be typed back). */
export const needsEscaping = (text: string) => text.replace(UNSAFE, '') !== text;
