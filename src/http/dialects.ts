import type { Account } from '../core/auth/accounts.js';
import type { TokenPair } from '../core/auth/sessions.js';
import { ROOT_ID } from '../core/ids.js';
import type { Field } from '../errors.js';

/**
 * A dialect of the Gateway API is data: where each operation lives, and what its fields and headers are
 * called. The handlers in operations.ts serve every dialect from the same core operations; adding a
 * dialect means adding one table here.
 */
export type Operation =
  | 'signInMethod'
  | 'signIn'
  | 'refresh'
  | 'signOut'
  | 'download'
  | 'thumbnail'
  | 'list'
  | 'entry'
  | 'newFolder'
  | 'remove'
  | 'move'
  | 'rename'
  | 'uploadNew'
  | 'update'
  | 'startUpload'
  | 'uploadSegment'
  | 'finishNewUpload'
  | 'finishUpdateUpload'
  | 'cancelUpload';

export interface Route {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express 5 path; `:id` is the object id, `{/:id}` an optional one (empty means the root). */
  path: string;
}

/** The meanings only segmented uploads use; a dialect without them has no names for these. */
export const SEGMENTED_NAMES = [
  'parentId',
  'uploadId',
  'cookie',
  'expiration',
  'segmentHeader',
  'segments',
  'segmentNumber',
  'segmentSize',
  'segmentSha256',
  'segmentCookie',
] as const;
export const SEGMENTED_OPERATIONS: readonly Operation[] = ['startUpload', 'uploadSegment', 'finishNewUpload', 'finishUpdateUpload', 'cancelUpload'];

/** What core means, plus what only responses carry: an entry's type and hash, an upload's expiry, a segment's cookie. */
export type Name = Exclude<Field, `form.${string}`> | 'type' | 'hash' | 'expiration' | 'segmentCookie';
type SegmentedName = (typeof SEGMENTED_NAMES)[number];
/** Names only a dialect that offers the matching routes or sign-in has: segmented uploads, oauth sign-in. */
type OptionalName = SegmentedName | 'oauthState';

export interface Dialect {
  name: string;
  routes: Partial<Record<Operation, Route>>;
  /** Sign-in and refresh share one route; the presence of the refresh token makes a request a refresh. */
  refreshOnSignIn: boolean;
  /**
   * Each meaning's name on the wire: requests are read through it and responses and errors written
   * through it (src/http/wire.ts). Sign-in form fields are named by the form itself, in every dialect.
   */
  fields: Readonly<Record<Exclude<Name, OptionalName>, string> & Partial<Record<OptionalName, string>>>;
  /** Whether names in the upload header are percent-encoded. */
  percentEncodedNames: boolean;
  pageHeader: string;
  tokens(t: TokenPair, account: Account, segmentSize: number): Record<string, string | number>;
}

/** A dialect that serves segmented uploads names every meaning they use (checked once, at start-up). */
function checked(d: Dialect): Dialect {
  if (SEGMENTED_OPERATIONS.some((op) => d.routes[op])) {
    const unnamed = SEGMENTED_NAMES.filter((n) => d.fields[n] === undefined);
    if (unnamed.length) throw new Error(`dialect ${d.name} serves segmented uploads but has no name for ${unnamed.join(', ')}`);
  }
  return d;
}

/** odrive's Gateway API v2: what odrive and its Gateway Shell speak. */
export const FINAL: Dialect = checked({
  name: 'final',
  routes: {
    signInMethod: { method: 'get', path: '/v2/gateway_auth_method' },
    signIn: { method: 'post', path: '/v2/gateway_auth' },
    refresh: { method: 'post', path: '/v2/gateway_auth_access' },
    signOut: { method: 'delete', path: '/v2/gateway_auth/:token' },
    download: { method: 'get', path: '/v2/gateway_file/:id' },
    thumbnail: { method: 'get', path: '/v2/gateway_file_thumbnail/:id' },
    list: { method: 'get', path: '/v2/gateway_metadata_children{/:id}' },
    entry: { method: 'get', path: '/v2/gateway_metadata{/:id}' },
    newFolder: { method: 'post', path: '/v2/gateway_metadata_folder{/:id}' },
    remove: { method: 'delete', path: '/v2/gateway_metadata/:id' },
    move: { method: 'put', path: '/v2/gateway_metadata_parent/:id' },
    rename: { method: 'put', path: '/v2/gateway_metadata_name/:id' },
    uploadNew: { method: 'post', path: '/v2/gateway_metadata_file{/:id}' },
    update: { method: 'put', path: '/v2/gateway_metadata_file/:id' },
    startUpload: { method: 'post', path: '/v2/gateway_upload' },
    uploadSegment: { method: 'post', path: '/v2/gateway_upload_segment/:id' },
    finishNewUpload: { method: 'post', path: '/v2/gateway_metadata_upload{/:id}' },
    finishUpdateUpload: { method: 'put', path: '/v2/gateway_metadata_upload/:id' },
    cancelUpload: { method: 'delete', path: '/v2/gateway_upload/:id' },
  },
  refreshOnSignIn: false,
  fields: {
    id: 'id',
    fileId: 'gateway.metadata.id',
    parentId: 'gateway.metadata.parent.id',
    type: 'gateway.metadata.type',
    name: 'gateway.metadata.name',
    modified: 'gateway.metadata.modified',
    size: 'gateway.metadata.file.size',
    sha256: 'gateway.metadata.file.sha256',
    hash: 'gateway.metadata.file.hash',
    newName: 'new.gateway.metadata.name',
    newParentId: 'new.gateway.metadata.parent.id',
    refreshToken: 'gateway.auth.refresh.token',
    oauthState: 'gateway.auth.oauth.state',
    page: 'page',
    body: 'body',
    range: 'Range',
    uploadHeader: 'X-Gateway-Upload',
    segmentHeader: 'X-Gateway-Upload-Segment',
    uploadId: 'gateway.upload.id',
    cookie: 'gateway.upload.cookie',
    expiration: 'gateway.upload.expiration',
    segments: 'gateway.upload.segment',
    segmentNumber: 'gateway.upload.segment.number',
    segmentSize: 'gateway.upload.segment.size',
    segmentSha256: 'gateway.upload.segment.sha256',
    segmentCookie: 'gateway.upload.segment.cookie',
  },
  percentEncodedNames: true,
  pageHeader: 'X-Gateway-Page',
  tokens: (t, account, segmentSize) => ({
    'gateway.auth.access.token': t.accessToken,
    'gateway.auth.refresh.token': t.refreshToken,
    'gateway.auth.metadata.id': ROOT_ID,
    // odrive's published spec names the root this way; its example client reads the key above.
    'gateway.auth.metadata.content.id': ROOT_ID,
    'gateway.auth.id': account.authId,
    'gateway.upload.segment.size': segmentSize,
  }),
});

/** The founding document's draft of the API, which earlier gateways and scripts speak. */
export const SEED: Dialect = checked({
  name: 'seed',
  routes: {
    signIn: { method: 'post', path: '/v2/auth' },
    signOut: { method: 'delete', path: '/v2/auth/:token' },
    download: { method: 'get', path: '/v2/file/:id' },
    thumbnail: { method: 'get', path: '/v2/file_thumbnail/:id' },
    list: { method: 'get', path: '/v2/metadata_children{/:id}' },
    entry: { method: 'get', path: '/v2/metadata{/:id}' },
    newFolder: { method: 'post', path: '/v2/metadata_folder{/:id}' },
    remove: { method: 'delete', path: '/v2/metadata/:id' },
    move: { method: 'patch', path: '/v2/metadata_parent/:id' },
    rename: { method: 'patch', path: '/v2/metadata_name/:id' },
    uploadNew: { method: 'post', path: '/v2/metadata_file{/:id}' },
    update: { method: 'put', path: '/v2/metadata/:id' },
  },
  refreshOnSignIn: true,
  fields: {
    id: 'id',
    fileId: 'content.id',
    type: 'content.type',
    name: 'content.name',
    modified: 'file.modified',
    size: 'file.size',
    sha256: 'file.sha256',
    hash: 'file.etag',
    newName: 'content.name',
    newParentId: 'parent.content.id',
    refreshToken: 'refresh.token',
    page: 'page',
    body: 'body',
    range: 'Range',
    uploadHeader: 'X-Upload-JSON',
  },
  percentEncodedNames: false,
  pageHeader: 'page',
  tokens: (t) => ({ 'access.token': t.accessToken, 'refresh.token': t.refreshToken, 'root.content.id': ROOT_ID }),
});

export const DIALECTS: Dialect[] = [FINAL, SEED];
