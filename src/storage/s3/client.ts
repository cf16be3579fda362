import http from 'node:http';
import https from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { readListingsFast } from './fast-deserializers.js';

/** Where the SDK's own remarks go (it would print to the console otherwise). */
export interface SdkLogger {
  debug(message: string, meta?: object): unknown;
}

export interface S3ClientOptions {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  maxAttempts: number;
  maxSockets: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Also send a copy's source condition as `x-amz-copy-if-match`, the name Ceph RGW reads. */
  legacyCopyConditions?: boolean;
  logger?: SdkLogger;
  /** Told of every S3 call once it ends (retries included): for metrics. */
  onCall?: (operation: string, outcome: string, seconds: number) => void;
}

/**
 * The one way the gateway builds an S3 client, for the embedded server and for AWS alike.
 * Checksums follow the provider profile: with the SDK's default (WHEN_SUPPORTED), streamed bodies go out
 * aws-chunked with trailing checksums, which many S3 implementations reject or store verbatim.
 */
export function createS3Client(o: S3ClientOptions): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: o.maxSockets };
  const client = new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: o.forcePathStyle,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    requestChecksumCalculation: o.checksums,
    responseChecksumValidation: o.checksums,
    maxAttempts: o.maxAttempts,
    // The SDK warns about failed streaming requests that the gateway already reports in its own terms.
    // No `info`: the SDK logs every call's whole output through `logger?.info?.(…)`, and only a missing
    // method spares it from redacting that output (every object of a listing) for nothing.
    logger: {
      trace: () => undefined,
      debug: () => undefined,
      warn: (...args: unknown[]) => void o.logger?.debug('aws-sdk', { detail: args.map(String).join(' ') }),
      error: (...args: unknown[]) => void o.logger?.debug('aws-sdk', { detail: args.map(String).join(' ') }),
    } as unknown as NonNullable<S3ClientConfig['logger']>,
    // One resolved middleware stack per command type, not one per call: the gateway adds no middleware to
    // single commands, and building the stack was a large part of a small request's CPU.
    cacheMiddleware: true,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: o.connectTimeoutMs,
      // Silence, not duration: a transfer may take hours, but S3 must not stall. (The handler's
      // requestTimeout is a whole-request timer that by default only warns.)
      socketTimeout: o.requestTimeoutMs,
    }),
  });
  readListingsFast(client);
  reuseSigners(client);
  if (o.legacyCopyConditions) {
    client.middlewareStack.add(
      (next) => (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers;
        const etag = headers?.['x-amz-copy-source-if-match'];
        if (headers && etag) headers['x-amz-copy-if-match'] = etag;
        return next(args);
      },
      // before signing, so that the header is signed like the rest
      { step: 'build', name: 'legacyCopyConditions' },
    );
  }
  const onCall = o.onCall;
  if (onCall) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
        try {
          const out = await next(args);
          onCall(operation, 'ok', seconds());
          return out;
        } catch (err) {
          onCall(operation, (err as { name?: string }).name ?? 'error', seconds());
          throw err;
        }
      },
      { step: 'initialize', name: 'gatewayMetrics' },
    );
  }
  return client;
}

/** What the SDK's signer function is given: the auth scheme the endpoint names (absent: the client's own). */
interface AuthScheme {
  signingName?: string;
  signingRegion?: string;
}

const MAX_SIGNERS = 32;

/**
 * The SDK makes a new signer for every request: a copy of the whole client configuration and a new
 * SignatureV4 each time, a measurable part of a small call's CPU and garbage. What it makes depends only
 * on the client's configuration and the scheme's signing name and region, so one is kept per pair. The
 * signing stays the SDK's: the same function makes the same signer, and each request still passes its own
 * region and service to it.
 */
function reuseSigners(client: S3Client): void {
  const config = client.config as unknown as { signer: (scheme?: AuthScheme) => Promise<unknown> };
  const make = config.signer;
  const made = new Map<string, Promise<unknown>>();
  config.signer = (scheme) => {
    const key = scheme === undefined ? '' : `${scheme.signingName}\0${scheme.signingRegion}`;
    let signer = made.get(key);
    if (!signer) {
      if (made.size >= MAX_SIGNERS) made.clear();
      signer = make(scheme);
      // A signer that could not be made is not kept: the next request tries again.
      signer.catch(() => made.delete(key));
      made.set(key, signer);
    }
    return signer;
  };
}
