/**
 * Crashes for the kill drills: a process that SIGKILLs itself at a chosen point, with no drain and
 * no cleanup, like a node lost mid-job. Only test entry points (test/e2e/faulty/) use these; the
 * services' own mains know nothing of them.
 */

/** Returns a function that SIGKILLs this process on its `after`-th call (1 = the first). */
export function crashOnCall(after = 1): () => void {
  if (!Number.isInteger(after) || after < 1) throw new Error('crashOnCall: `after` must be a positive integer');
  let calls = 0;
  return () => {
    if (++calls >= after) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * Reads a crash point from the process's arguments, `--crash-at=POINT` and `--crash-after=N`,
 * refusing a point not in `points`. Undefined when no `--crash-at` was given.
 */
export function crashArgs<P extends string>(argv: readonly string[], points: readonly P[]): { readonly at: P; readonly after: number } | undefined {
  const value = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const at = value('crash-at');
  if (at === undefined) return undefined;
  if (!(points as readonly string[]).includes(at)) throw new Error(`--crash-at must be one of ${points.join(', ')}`);
  const after = Number(value('crash-after') ?? 1);
  return { at: at as P, after };
}
