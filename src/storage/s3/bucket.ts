import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { fromS3Error, s3ErrorName, s3Status } from './errors.js';

/** The bucket the gateway serves, reached only through the SDK client it was given. */
export class S3Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
  ) {}

  /** Resolves when the bucket answers; rejects with a GatewayError saying why not. */
  async check(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.name }), { abortSignal: signal });
    } catch (err) {
      if (s3Status(err) === 404) throw fromS3Error(Object.assign(err as object, { name: 'NoSuchBucket' }), 'HeadBucket');
      throw fromS3Error(err, 'HeadBucket');
    }
  }

  /** Creates the bucket unless it exists (the embedded default starts with an empty store). */
  async ensureExists(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
      return;
    } catch (err) {
      if (s3Status(err) !== 404) throw fromS3Error(err, 'HeadBucket');
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.name }));
    } catch (err) {
      const name = s3ErrorName(err);
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw fromS3Error(err, 'CreateBucket');
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
