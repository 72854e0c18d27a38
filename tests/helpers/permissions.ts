/** Worker permissions in tests: everything denied, to spread the few allowed kinds over. */

/** Every permission kind denied; `{ ...NOTHING, net: [...] }` allows just that. */
export const NOTHING = {
  net: false,
  read: false,
  write: false,
  run: false,
  ffi: false,
  env: false,
  sys: false,
  import: false,
} as const satisfies Deno.PermissionOptionsObject;
