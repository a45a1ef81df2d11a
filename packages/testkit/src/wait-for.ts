/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Default 10,000 ms. */
  readonly timeout?: number;
  /** Poll interval, default 20 ms. */
  readonly interval?: number;
  /** Names the condition in the timeout error. */
  readonly what?: string;
}

/**
 * Waits until `cond` returns a truthy value (which it resolves to), checking every `interval`
 * ms, and fails after `timeout` ms naming what it waited for. Bounded: never a bare sleep.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 20;
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`waitFor timed out after ${timeout} ms: ${options.what ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
