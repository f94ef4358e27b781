/** Which known interface layout a running release gets. */
export interface ReleaseChoice<T> {
  readonly abi: T;
  /** Newer than every release the layouts were checked against. */
  readonly untested: boolean;
}

/**
 * Chooses by release number range rather than by exact name: each known
 * layout holds from its own first release (`since`) up to the next one's, and
 * the newest holds for every later release too, reported as untested when the
 * release is at or past `untestedFrom`. Undefined before the oldest known
 * layout. `known` is ordered oldest first.
 */
export function chooseRelease<T>(
  known: readonly T[],
  since: (abi: T) => number,
  version: number,
  untestedFrom: number,
): ReleaseChoice<T> | undefined {
  if (!Number.isFinite(version)) return undefined;
  let chosen: T | undefined;
  for (const abi of known) {
    if (since(abi) <= version) chosen = abi;
  }
  return chosen === undefined ? undefined : { abi: chosen, untested: version >= untestedFrom };
}

/** The default for a platform's one-line warnings: `<platform>: <text>` on stderr. */
export function stderrWarn(platform: string): (text: string) => void {
  return (text) => {
    process.stderr.write(`${platform}: ${text}\n`);
  };
}
