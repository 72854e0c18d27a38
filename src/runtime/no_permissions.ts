/**
 * The starting point of a restricted worker's permissions: every one denied
 * but `net`, which each worker names itself (its broker or listening
 * addresses, or `false`).
 *
 * @module
 */

/** Every Deno permission but `net`, denied. */
export const NO_PERMISSIONS = {
  read: false,
  write: false,
  run: false,
  ffi: false,
  env: false,
  sys: false,
  import: false,
} as const;
