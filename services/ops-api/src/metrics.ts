import type { BreachwaveConfig } from '@breachwave/config';
import type { Logger } from '@breachwave/logging';
import { Gauge, LabelledCounter, Registry, createProcessMetrics, metricsSettingsOf } from '@breachwave/metrics';
import type { Redis } from '@breachwave/redis';

/**
 * The ops-api's metrics, on the process registry of `@breachwave/metrics` (process metrics, the
 * pipeline read from Redis at scrape time, the heartbeat) plus its own `bw_ops_*` counters,
 * whose names predate the package and are kept for the dashboards and alerts that use them.
 * Label values come from fixed sets (route templates, states, catalog codes), never from
 * request data, so cardinality stays bounded.
 */

/** Something with metrics of its own that `/metrics` shows beside the ops-api's. */
export interface MetricsSource {
  readonly registry: Registry;
}

/** A counter of a mounted route, on a registry of its own that `/metrics` merges in. */
export class Counter extends LabelledCounter implements MetricsSource {
  readonly registry: Registry;

  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    const registry = new Registry();
    super(registry, name, help, labelNames);
    this.registry = registry;
  }
}

export interface OpsMetricsDeps {
  readonly config: BreachwaveConfig;
  readonly log: Logger;
  /** The ops-api's fail-fast client; the caller keeps it. */
  readonly redis: Redis;
  /** Suppressed contact points by channel and reason, read at scrape time. */
  readonly suppressions: () => Promise<readonly { channel: string; reason: string; count: number }[]>;
}

/** The ops-api's registry and counters. No I/O until the first scrape. */
export function createOpsMetrics(deps: OpsMetricsDeps) {
  const process = createProcessMetrics(metricsSettingsOf(deps.config), { service: 'ops-api', log: deps.log, redis: deps.redis });
  const { registry } = process;
  process.heartbeat(() => true);
  const counter = (name: string, help: string, labels: readonly string[]) => new LabelledCounter(registry, name, help, labels);
  new Gauge({
    name: 'bw_ops_suppressions', help: 'Contact points currently suppressed, by channel and reason (shared by every ops-api).', labelNames: ['channel', 'reason'], registers: [registry],
    async collect() {
      this.reset();
      for (const c of await deps.suppressions().catch(() => [])) this.set({ channel: c.channel, reason: c.reason }, c.count);
    },
  });
  new Gauge({
    name: 'bw_ops_redis_up', help: 'Whether Redis answered this scrape (the suppression list\'s read).', registers: [registry],
    async collect() {
      this.set(await deps.suppressions().then(() => 1, () => 0));
    },
  });
  return {
    registry,
    requests: counter('bw_ops_http_requests_total', 'HTTP requests answered, by route and status.', ['route', 'status']),
    rejected: counter('bw_ops_rejected_requests_total', 'Requests refused with a 4xx, by route and error code (forged signatures, bad tokens, malformed bodies).', ['route', 'code']),
    callbacks: counter('bw_ops_status_callbacks_total', 'Twilio status callbacks applied, by delivery status and outcome (recorded, duplicate, stale, terminal, other-message, unmatched).', ['status', 'outcome']),
    inbound: counter('bw_ops_inbound_sms_total', 'Inbound SMS webhooks, by keyword intent (none, opt-out, opt-in, help).', ['intent']),
    unsubscribes: counter('bw_ops_unsubscribes_total', 'One-click unsubscribes, by outcome (added, already).', ['outcome']),
    fallbacks: counter('bw_ops_fallbacks_total', 'Notices marked for channel fallback after a permanent delivery failure, by hook result.', ['hook']),
    errors: counter('bw_ops_handler_errors_total', 'Unexpected handler failures answered with a 5xx, by route.', ['route']),
    /** The Prometheus text of this registry and `extra` (mounted routes' counters), and its content type. */
    async render(extra: readonly MetricsSource[] = []): Promise<{ body: string; contentType: string }> {
      const merged = extra.length ? Registry.merge([registry, ...extra.map((e) => e.registry)]) : registry;
      return { body: await merged.metrics(), contentType: registry.contentType };
    },
    close: () => process.close(),
  };
}

export type OpsMetrics = ReturnType<typeof createOpsMetrics>;
