/**
 * A minimal Prometheus text-format registry (exposition format 0.0.4): counters with labels, and
 * gauges computed at scrape time. Label values here come from fixed sets (route templates, states,
 * catalog codes), never from request data, so cardinality stays bounded.
 */

type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A monotonically increasing counter with labels. */
export class Counter {
  readonly #values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /** Current value for exactly these labels (for tests and logs). */
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [labels, value] of this.#values) lines.push(`${this.name}${labels} ${value}`);
    return lines.join('\n');
  }
}

/** Renders a gauge from samples read at scrape time. */
export function renderGauge(name: string, help: string, samples: readonly { labels: Labels; value: number }[]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples.map((s) => `${name}${labelText(s.labels)} ${s.value}`)].join('\n');
}

/** The ops-api's counters. */
export function createOpsMetrics() {
  return {
    requests: new Counter('bw_ops_http_requests_total', 'HTTP requests answered, by route and status.'),
    rejected: new Counter('bw_ops_rejected_requests_total', 'Requests refused with a 4xx, by route and error code (forged signatures, bad tokens, malformed bodies).'),
    callbacks: new Counter('bw_ops_status_callbacks_total', 'Twilio status callbacks applied, by delivery status and outcome (recorded, duplicate, stale, terminal, other-message, unmatched).'),
    inbound: new Counter('bw_ops_inbound_sms_total', 'Inbound SMS webhooks, by keyword intent (none, opt-out, opt-in, help).'),
    unsubscribes: new Counter('bw_ops_unsubscribes_total', 'One-click unsubscribes, by outcome (added, already).'),
    fallbacks: new Counter('bw_ops_fallbacks_total', 'Notices marked for channel fallback after a permanent delivery failure, by hook result.'),
    errors: new Counter('bw_ops_handler_errors_total', 'Unexpected handler failures answered with a 5xx, by route.'),
  };
}

export type OpsMetrics = ReturnType<typeof createOpsMetrics>;
