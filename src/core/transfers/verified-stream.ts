import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { invalid, type Field } from '../../errors.js';

export interface Declared {
  size: number;
  /** Lower-case hex, when the client declared one. */
  sha256: string | undefined;
  /** The fields errors name (a whole file's, or a segment's). */
  sizeField: Field;
  sha256Field: Field;
}

/**
 * Passes bytes through while counting and hashing them. More bytes than declared fail at once; fewer, or
 * a different sha256, fail at the end. The last chunk is held back until those checks pass, so a
 * consumer that sends a declared Content-Length (an UploadPart) never completes a request with bad
 * content, and one that waits for the end (lib-storage) never commits it.
 */
export class VerifiedStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private digest: string | undefined;
  private held: Buffer | undefined;

  constructor(private readonly declared: Declared) {
    super();
  }

  get bytes(): number {
    return this.count;
  }

  /** The sha256 of everything that passed, once the stream has ended. */
  get sha256(): string | undefined {
    return this.digest;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.declared.size) {
      done(this.mismatch(this.declared.sizeField, `the body is longer than the declared ${this.declared.size} bytes`));
      return;
    }
    this.hash.update(chunk);
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }

  override _flush(done: TransformCallback): void {
    if (this.count !== this.declared.size) {
      done(this.mismatch(this.declared.sizeField, `declared ${this.declared.size} bytes but the body had ${this.count}`));
      return;
    }
    this.digest = this.hash.digest('hex');
    if (this.declared.sha256 !== undefined && this.digest !== this.declared.sha256) {
      done(this.mismatch(this.declared.sha256Field, `declared ${this.declared.sha256} but the body's sha256 is ${this.digest}`));
      return;
    }
    done(null, this.held);
  }

  private mismatch(field: Field, problem: string) {
    return invalid(field, `${problem}; nothing was stored`);
  }
}
