import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface S3ClientOptions {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  maxSockets: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * The one way the gateway builds an S3 client, for the embedded server and for AWS alike.
 * Checksums are computed only when an operation requires them: with the SDK's default, streamed bodies
 * go out aws-chunked with trailing checksums, which many S3 implementations reject or store verbatim.
 */
export function createS3Client(o: S3ClientOptions): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: o.maxSockets };
  return new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: o.forcePathStyle,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: o.connectTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
    }),
  });
}
