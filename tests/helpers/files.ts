/** File-system checks shared by tests. */

/** Whether something (a file, directory or dangling symlink) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(
  body: (dir: string) => Promise<T>,
  prefix = "kpm33b-",
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
