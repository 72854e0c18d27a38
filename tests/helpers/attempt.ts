/** Runs an action and names its outcome: "allowed", or the error's name (e.g. "NotCapable"). */
export async function attempt(action: () => unknown | Promise<unknown>): Promise<string> {
  try {
    await action();
    return "allowed";
  } catch (error) {
    return (error as Error).name;
  }
}
