import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The processes that serve metrics; the value of the `service` label. */
export type ServiceName = 'notifier' | 'pin-rotator' | 'code-issuer' | 'audit-writer' | 'feeder' | 'ops-api';

export type Labels = Readonly<Record<string, string>>;

/** Label objects in name order, so that every series prints its labels the same way whatever order a caller wrote them in. */
export function sortedLabels(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k] ?? '';
  return out;
}

/**
 * A registry for one process: Node's process metrics (`process_*`, `nodejs_*`, event-loop lag
 * included) and nothing else yet. One per process in production; tests that run several
 * services in one process get one each, so the same names never collide.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A counter with a fixed set of label names, incremented with label objects in any key order.
 * Label values must come from fixed sets (route templates, states, catalog codes), never from
 * request data: every distinct value is a series kept for the life of the process.
 */
export class LabelledCounter {
  readonly #counter: Counter;
  /** The same values by label set, for synchronous reads (prom-client's own read is async). */
  readonly #values = new Map<string, number>();

  constructor(registry: Registry, readonly name: string, help: string, labelNames: readonly string[] = []) {
    this.#counter = new Counter({ name, help, labelNames: [...labelNames].sort(), registers: [registry] });
  }

  inc(labels: Labels = {}, by = 1): void {
    const sorted = sortedLabels(labels);
    this.#counter.inc(sorted, by);
    const key = JSON.stringify(sorted);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /** Current value for exactly these labels (for tests and logs). */
  get(labels: Labels = {}): number {
    return this.#values.get(JSON.stringify(sortedLabels(labels))) ?? 0;
  }
}

/**
 * `breachwave_worker_heartbeat_timestamp_seconds{service}`: set to the current time at each
 * scrape while `running()` says the process's worker runs. A worker that stopped (or a process
 * that no longer answers) leaves the last value behind, which is what the alert looks at.
 */
export function registerHeartbeat(registry: Registry, service: ServiceName, running: () => boolean, now: () => number = Date.now): void {
  new Gauge({
    name: 'breachwave_worker_heartbeat_timestamp_seconds',
    help: 'Unix time of the last scrape at which this process\'s worker was running, by service.',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      if (running()) this.set({ service }, Math.floor(now() / 1000));
    },
  });
}
