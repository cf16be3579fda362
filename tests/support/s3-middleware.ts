import type { S3Client } from '@aws-sdk/client-s3';

/** An initialize-step middleware, as the tests write them. */
type Middleware = (
  next: (args: { input: object }) => Promise<{ output: object }>,
  context: { commandName?: string },
) => (args: { input: object }) => Promise<{ output: object }>;

/**
 * The gateway's clients cache each command type's resolved middleware stack (`cacheMiddleware`), so a
 * middleware a test adds to a client that has already sent commands would not be seen. These drop the
 * SDK's cache (its own `handlers` field, which it drops itself on `destroy()` and uncached sends).
 */
const dropHandlerCache = (client: S3Client) => delete (client as unknown as { handlers?: unknown }).handlers;

export function addMiddleware(client: S3Client, middleware: Middleware, options: { step: 'initialize'; name: string }): void {
  client.middlewareStack.add(middleware as never, options);
  dropHandlerCache(client);
}

export function removeMiddleware(client: S3Client, name: string): void {
  client.middlewareStack.remove(name);
  dropHandlerCache(client);
}
