/**
 * Prometheus metrics for every breachwave process (prom-client): one registry per process with
 * Node's process metrics, the pipeline's state read from Redis at scrape time (queues, waves,
 * dead letters, code pools, pace, Redis memory), a worker heartbeat, the notifier's provider
 * latency, the action outcomes its workers record, and a small HTTP server for `/metrics`, `/healthz` and `/readyz`.
 *
 * Every name is `breachwave_*`; labels carry queue, wave, action, state, channel, catalog codes,
 * pool and sender ids — never an account id, a phone number or an email address.
 */
export { LabelledCounter, createMetricsRegistry, registerHeartbeat, sortedLabels, type Labels, type ServiceName } from './registry.js';
export { createPipelineReader, parseRedisMemory, registerPipelineMetrics, type PipelineDeps, type PipelineReader, type PipelineSnapshot } from './pipeline.js';
export { registerOutcomeMetrics } from './outcomes.js';
export { registerProviderMetrics, type ProviderMetrics } from './providers.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions, type Readiness } from './server.js';
export {
  createProcessMetrics, createServiceMetrics, metricsSettingsOf, startServiceMetrics,
  type ProcessMetrics, type ProcessMetricsDeps, type ProcessMetricsSettings, type ServiceMetrics, type ServiceMetricsDeps,
} from './service.js';
/** prom-client's own classes, for metrics a service adds to its registry (one copy of prom-client in the process). */
export { Counter as PromCounter, Gauge, Histogram, Registry } from 'prom-client';
