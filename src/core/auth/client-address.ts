import { isIPv6 } from 'node:net';

/**
 * The key a client address is counted under by per-address limits. One IPv6 subscriber usually holds a
 * whole /64 and can pick any address in it, so IPv6 is counted per /64; IPv4 (also IPv4-mapped IPv6) per
 * address. Anything else (no address known) is counted as it is.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  const ip = address.replace(/%.*$/, ''); // a zone (fe80::1%eth0) says nothing about the subscriber
  if (!isIPv6(ip)) return address;
  const groups = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const [head = '', tail] = ip.split('::');
  const before = groups(head);
  const after = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? before : [...before, ...Array<string>(8 - before.length - after.length).fill('0'), ...after];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
