import type { Account } from '../core/auth/accounts.js';
import type { TokenPair } from '../core/auth/sessions.js';
import type { Entry } from '../core/file-system.js';
import { ROOT_ID } from '../core/ids.js';
import type { DeclarationFields } from '../core/transfers/declarations.js';

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

export interface Dialect {
  name: string;
  routes: Partial<Record<Operation, Route>>;
  /** Sign-in and refresh share one route; the presence of this field makes a request a refresh. */
  refreshOnSignIn: boolean;
  fields: {
    refreshToken: string;
    folderName: string;
    folderModified: string;
    newName: string;
    newParent: string;
    /** Upload header fields (and, in the final dialect, large-upload body fields). */
    upload: DeclarationFields;
  };
  uploadHeader: string;
  /** Whether names in the upload header are percent-encoded. */
  percentEncodedNames: boolean;
  pageHeader: string;
  entry(e: Entry): Record<string, string | number>;
  tokens(t: TokenPair, account: Account, segmentSize: number): Record<string, string | number>;
}

/** odrive's Gateway API v2: what odrive and its Gateway Shell speak. */
export const FINAL: Dialect = {
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
    refreshToken: 'gateway.auth.refresh.token',
    folderName: 'gateway.metadata.name',
    folderModified: 'gateway.metadata.modified',
    newName: 'new.gateway.metadata.name',
    newParent: 'new.gateway.metadata.parent.id',
    upload: {
      name: 'gateway.metadata.name',
      modified: 'gateway.metadata.modified',
      size: 'gateway.metadata.file.size',
      sha256: 'gateway.metadata.file.sha256',
    },
  },
  uploadHeader: 'X-Gateway-Upload',
  percentEncodedNames: true,
  pageHeader: 'X-Gateway-Page',
  entry: (e) => ({
    'gateway.metadata.id': e.id,
    'gateway.metadata.parent.id': e.parentId,
    'gateway.metadata.type': e.type,
    'gateway.metadata.name': e.name,
    'gateway.metadata.modified': e.modified,
    ...(e.type === 'file' ? { 'gateway.metadata.file.size': e.size ?? 0, 'gateway.metadata.file.hash': e.hash ?? '' } : {}),
  }),
  tokens: (t, account, segmentSize) => ({
    'gateway.auth.access.token': t.accessToken,
    'gateway.auth.refresh.token': t.refreshToken,
    'gateway.auth.metadata.id': ROOT_ID,
    // odrive's published spec names the root this way; its example client reads the key above.
    'gateway.auth.metadata.content.id': ROOT_ID,
    'gateway.auth.id': account.authId,
    'gateway.upload.segment.size': segmentSize,
  }),
};

/** The founding document's draft of the API, which earlier gateways and scripts speak. */
export const SEED: Dialect = {
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
    refreshToken: 'refresh.token',
    folderName: 'content.name',
    folderModified: 'file.modified',
    newName: 'content.name',
    newParent: 'parent.content.id',
    upload: { name: 'content.name', modified: 'file.modified', size: 'file.size', sha256: 'file.sha256' },
  },
  uploadHeader: 'X-Upload-JSON',
  percentEncodedNames: false,
  pageHeader: 'page',
  entry: (e) => ({
    'content.id': e.id,
    'content.type': e.type,
    'content.name': e.name,
    'file.modified': e.modified,
    ...(e.type === 'file' ? { 'file.size': e.size ?? 0, 'file.etag': e.hash ?? '' } : {}),
  }),
  tokens: (t) => ({ 'access.token': t.accessToken, 'refresh.token': t.refreshToken, 'root.content.id': ROOT_ID }),
};

export const DIALECTS: Dialect[] = [FINAL, SEED];
