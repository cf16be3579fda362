import type { RequestLimit } from './auth/request-limit.js';
import type { SessionService } from './auth/sessions.js';
import type { SignInService } from './auth/sign-in.js';
import type { BucketFileSystem } from './file-system.js';
import type { DownloadService } from './transfers/downloads.js';
import type { ThumbnailService } from './transfers/thumbnails.js';
import type { SegmentedUploads } from './transfers/segmented-uploads.js';
import type { StreamedUploads } from './transfers/streamed-uploads.js';

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
  files: BucketFileSystem;
  /** Uploads in one request. */
  uploads: StreamedUploads;
  /** Large uploads in segments. */
  segmentedUploads: SegmentedUploads;
  downloads: DownloadService;
  thumbnails: ThumbnailService;
  uploadSegmentSize: number;
  readiness(): Promise<ReadinessReport>;
}
