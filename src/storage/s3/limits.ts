/** What S3 allows, free of the SDK: the gateway's names and sizes are checked against these. */

/** Longest key, in UTF-8 bytes. */
export const S3_MAX_KEY_BYTES = 1024;

/** Largest object: 10,000 parts of at most 5 GiB, and 5 TiB in all. */
export const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;
