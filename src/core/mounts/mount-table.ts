import type { BucketStore } from '../../storage/bucket-store.js';
import type { Account } from '../auth/accounts.js';

/** A shared folder as the gateway serves it: its bucket (on its endpoint), its prefix, who sees it. */
export interface Mount {
  name: string;
  bucket: BucketStore;
  /** '' or ending in '/'. */
  prefix: string;
  readOnly: boolean;
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
}

/**
 * The operator's mounts and to whom each is granted. Grants are looked up on every request, so a mount
 * revoked in MOUNTS_FILE is gone for every session as soon as the file is re-read; a group taken away at
 * the identity provider counts from the session's next refresh.
 */
export class MountTable {
  private mounts: Mount[];

  constructor(mounts: Mount[]) {
    this.mounts = mounts;
  }

  replace(mounts: Mount[]): void {
    this.mounts = mounts;
  }

  /** The mounts an account sees, by its user name (users file) or its groups (identity provider). */
  grantedTo(account: Account): Mount[] {
    const groups = account.groups ?? [];
    return this.mounts.filter((m) => m.users.has(account.name) || groups.some((g) => m.groups.has(g)));
  }

  all(): readonly Mount[] {
    return this.mounts;
  }

  get size(): number {
    return this.mounts.length;
  }
}
