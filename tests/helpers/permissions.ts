/** Worker permissions in tests: everything denied, to spread the few allowed kinds over. */
import { NO_PERMISSIONS } from "../../src/runtime/no_permissions.ts";

/** Every permission kind denied; `{ ...NOTHING, net: [...] }` allows just that. */
export const NOTHING = {
  ...NO_PERMISSIONS,
  net: false,
} as const satisfies Deno.PermissionOptionsObject;
