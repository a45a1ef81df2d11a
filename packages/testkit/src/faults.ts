/**
 * Fault rules shared by the test kit's servers: rules are tried in the order they were added;
 * the first whose own condition matches and whose `probability` draw passes applies, is counted,
 * and — with `times` — retires after that many uses. The draw comes from a seeded PRNG, so a run
 * is reproducible.
 */
export interface FaultRuleBase<K extends string> {
  readonly kind: K;
  remaining: number | undefined;
  readonly probability: number | undefined;
}

/** Validates the `times` / `probability` options every fault takes. */
export function checkFaultOptions(options: { readonly times?: number; readonly probability?: number }): void {
  if (options.times !== undefined && (!Number.isInteger(options.times) || options.times < 1)) {
    throw new Error('fault option `times` must be a positive integer');
  }
  if (options.probability !== undefined && !(options.probability >= 0 && options.probability <= 1)) {
    throw new Error('fault option `probability` must be between 0 and 1');
  }
}

export function createFaultBook<K extends string, R extends FaultRuleBase<K>>(kinds: readonly K[], seed: number) {
  const random = mulberry32(seed);
  let rules: R[] = [];
  const counts = {} as Record<K, number>;
  const zero = (): void => {
    for (const kind of kinds) counts[kind] = 0;
  };
  zero();
  return {
    counts,
    add(rule: R): void {
      rules.push(rule);
    },
    /** The kind of the first rule that applies to a request `matches` accepts, or undefined. */
    take(matches: (rule: R) => boolean): K | undefined {
      for (const rule of rules) {
        if (!matches(rule)) continue;
        if (rule.probability !== undefined && !(random() < rule.probability)) continue;
        if (rule.remaining !== undefined) {
          rule.remaining -= 1;
          if (rule.remaining <= 0) rules = rules.filter((r) => r !== rule);
        }
        counts[rule.kind] += 1;
        return rule.kind;
      }
      return undefined;
    },
    clear(): void {
      rules = [];
    },
    reset(): void {
      rules = [];
      zero();
    },
  };
}

/** Small, fast, seedable PRNG (mulberry32); deterministic for a given seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
