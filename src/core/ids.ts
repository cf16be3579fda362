/**
 * The id of an account's root folder. Reserved: no other id can take this form, since "root" is not the
 * base64url encoding of any valid UTF-8 key.
 */
export const ROOT_ID = 'root';
