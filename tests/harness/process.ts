/**
 * Run a child process to completion with a kill deadline.
 *
 * @module
 */

/**
 * Spawn `command` with `args`, killing it (SIGKILL) after timeoutMs; returns
 * its exit code and stdout followed by stderr.
 */
export async function runCommand(
  command: string,
  args: string[],
  timeoutMs: number,
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}
