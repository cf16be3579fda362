/**
 * Every key the gateway keeps in the session store, in one list: what each prefix holds. All expire
 * (the store's contract); the lock keys are the store's own (`lock:{bucket}:…`, see the Redis store).
 *
 * `{…}` is a Redis Cluster hash tag: keys with the same tag live in one slot, so the keys one command
 * reads or writes together (one upload's, one folder's cached entries) are served by one node in one
 * round trip. Keys read together without a common tag (a session's tokens, found by their own hashes)
 * are split by slot in the Redis store.
 */
export const storeKeys = {
  /**
   * A session family (one sign-in and its refreshes), by the hash of its secret (see tokens.ts), and its
   * access token by hash. Refresh tokens need no key: each carries its family's secret.
   */
  family: (id: string) => `fam:${id}`,
  accessToken: (hash: string) => `at:${hash}`,
  /** A refresh token of a family started before family secrets, by hash (they end with REFRESH_TOKEN_TTL). */
  refreshToken: (hash: string) => `rt:${hash}`,
  /** A refresh token being used: setting it is the atomic claim that lets one of two concurrent uses through. */
  spentRefreshToken: (hash: string) => `rtu:${hash}`,
  /**
   * What listings cannot tell of an object version (modified time, sha256), and a folder's time; tagged
   * by the folder they are listed in (`folderTag`), so that a listing reads them with one MGET.
   */
  objectFacts: (folderTag: string, hash: string) => `meta:{${folderTag}}:${hash}`,
  folderTime: (folderTag: string, hash: string) => `fmeta:{${folderTag}}:${hash}`,
  /** A segmented upload, and the ETag of each of its segments. */
  upload: (id: string) => `up:{${id}}`,
  uploadPart: (id: string, n: number) => `up:{${id}}:p:${n}`,
  /** The segmented uploads an account has open (or starting), for the limit on them. */
  openUploads: (accountHash: string) => `upa:${accountHash}`,
  uploadStarting: (id: string) => `ups:{${id}}`,
  /** A multipart upload the gateway started, and the set of all of them (what the orphan sweep walks). */
  multipart: (id: string) => `mpu:${id}`,
  multipartRegistry: 'mpu-index',
  /** An oauth sign-in under way (by its state's hash): the checks for the provider's answer, then its outcome. */
  oauthSignIn: (hash: string) => `oauth:${hash}`,
  /** The journal of a folder rename or move, so that the same request finishes an interrupted one. */
  folderJob: (hash: string) => `job:${hash}`,
  /**
   * Folder jobs (folder-jobs/jobs.ts): each one's record by id, the ids under way per bucket (what the
   * view reads) and in all (what takeover walks).
   */
  folderJobs: { record: 'fjob:', byBucket: 'fjobs:', all: 'fjob-index' },
  /** Rate limiters' counters (their keys begin with these names). */
  limiters: {
    signInAccount: 'signin-account',
    signInAccountInAll: 'signin-account-all',
    signInAddress: 'signin-address',
    requestsPerToken: 'req-token',
    requestsPerAddress: 'req-address',
  },
} as const;
