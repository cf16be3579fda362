import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseListObjectsV2 } from './fast-list.js';

/** What the client's protocol offers: how the SDK's deserializer middleware turns a response into output. */
interface Protocol {
  deserializeResponse(operation: { name?: string }, context: unknown, response: RawResponse): Promise<unknown>;
  deserializeMetadata(response: RawResponse): unknown;
}

interface RawResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

async function bytesOf(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Reads successful ListObjectsV2 answers with the gateway's own parser (fast-list.ts) instead of the SDK's
 * generic XML and schema walk, which cost most of a listing's CPU. It takes the place of one step only:
 * the SDK's deserializer middleware asks the client's protocol for the output, and this answers for a
 * 200 to ListObjectsV2 when it can read the document, with the SDK's own `$metadata`. Requests, signing,
 * endpoints, retries, timeouts, error answers and every other operation stay the SDK's, and so does any
 * document the parser does not expect (it is handed back to the SDK, bytes and all).
 */
export function readListingsFast(client: S3Client): void {
  const protocol = (client.config as unknown as { protocol: Protocol }).protocol;
  const sdk = protocol.deserializeResponse.bind(protocol);
  protocol.deserializeResponse = async (operation, context, response) => {
    if (operation?.name !== 'ListObjectsV2' || response.statusCode !== 200) return sdk(operation, context, response);
    const bytes = await bytesOf(response.body);
    const parsed = parseListObjectsV2(bytes.toString('utf8'));
    if (!parsed) {
      response.body = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return sdk(operation, context, response);
    }
    const charged = response.headers['x-amz-request-charged'];
    return { ...parsed, ...(charged !== undefined ? { RequestCharged: charged } : {}), $metadata: protocol.deserializeMetadata(response) };
  };
}
