import { CompactEncrypt, compactDecrypt } from 'jose';

/**
 * Seals what a session must remember but nobody may read in the session store (people's S3 keys):
 * JWE, direct encryption with AES-256-GCM under the operator's CREDENTIALS_KEY.
 */
export class CredentialSeal {
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(private readonly key: Uint8Array) {
    if (key.length !== 32) throw new Error('a credential key has 32 bytes');
  }

  async seal(value: object): Promise<string> {
    return new CompactEncrypt(this.encoder.encode(JSON.stringify(value))).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(this.key);
  }

  /** The sealed value; undefined when it was not sealed with this key or was altered. */
  async open<T>(sealed: string): Promise<T | undefined> {
    try {
      const { plaintext } = await compactDecrypt(sealed, this.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return JSON.parse(this.decoder.decode(plaintext)) as T;
    } catch {
      return undefined;
    }
  }
}
