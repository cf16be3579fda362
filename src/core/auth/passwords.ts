import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

/** Cost parameters for new hashes: about 50-100 ms and 32 MiB of memory per check on a small server. */
const DEFAULT = { N: 32768, r: 8, p: 1 };
const KEY_LENGTH = 32;

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

// Format: scrypt$N$r$p$<salt, base64>$<key, base64> — self-describing, so the cost can rise later.
const HASH_PATTERN = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export function parsePasswordHash(encoded: string): ParsedHash | undefined {
  const m = HASH_PATTERN.exec(encoded);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4]!, 'base64');
  const key = Buffer.from(m[5]!, 'base64');
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N > 2 ** 20 || r < 1 || r > 32 || p < 1 || p > 16 || salt.length < 16 || key.length < 16) {
    return undefined;
  }
  return { N, r, p, salt, key };
}

function scryptOptions(h: { N: number; r: number; p: number }): ScryptOptions {
  // maxmem must cover 128 * N * r bytes, plus headroom.
  return { N: h.N, r: h.r, p: h.p, maxmem: 128 * h.N * h.r * 2 };
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, scryptOptions(DEFAULT));
  return `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time check of a password against a stored hash; false for a malformed hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const h = parsePasswordHash(encoded);
  if (!h) return false;
  const key = await scrypt(password, h.salt, h.key.length, scryptOptions(h));
  return timingSafeEqual(key, h.key);
}
