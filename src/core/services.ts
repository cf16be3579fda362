import type { RequestLimit } from './auth/request-limit.js';
import type { SessionService } from './auth/sessions.js';
import type { SignInService } from './auth/sign-in.js';
import type { Namespace } from './mounts/namespace.js';

export interface ReadinessReport {
  ready: boolean;
  /** Per dependency: 'ok', or what failed. */
  checks: Record<string, string>;
}

/** The gateway's own operations, as the HTTP layer sees them. */
export interface GatewayServices {
  signIn: SignInService;
  sessions: SessionService;
  requestLimit: RequestLimit;
  /** Every file operation, on an account's whole tree: its home and the mounts granted to it. */
  files: Namespace;
  uploadSegmentSize: number;
  readiness(): Promise<ReadinessReport>;
}
