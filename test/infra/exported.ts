import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Histogram, createProcessMetrics } from '@breachwave/metrics';
import { silentLogger } from '@breachwave/logging';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Every series name the processes export, from the registries the metrics package builds (the
 * pipeline, the heartbeat, the provider metrics, Node's process metrics), histograms with their
 * `_bucket`, `_sum` and `_count` series. Building them does no I/O: nothing connects to Redis.
 */
export async function exportedNames(): Promise<Set<string>> {
  const m = createProcessMetrics({ redisUrl: 'redis://127.0.0.1:1', prefix: 'names', metrics: { host: '127.0.0.1', port: 0, cacheMs: 0, dlqCacheMs: 0, stuckAfterSeconds: 600 } }, { service: 'notifier', log: silentLogger() });
  try {
    m.heartbeat(() => true);
    void m.providers;
    const names = new Set<string>();
    for (const metric of m.registry.getMetricsAsArray()) {
      const { name } = metric as unknown as { name: string };
      names.add(name);
      if (metric instanceof Histogram) for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    }
    return names;
  } finally {
    await m.close();
  }
}

/** The metric names a PromQL expression reads (ours and Node's process metrics). */
export function namesIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:breachwave|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? '');
}

export const readText = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');
