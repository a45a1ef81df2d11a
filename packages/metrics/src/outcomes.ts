import { Counter, type Registry } from 'prom-client';
import type { SettledOutcome } from '@breachwave/actions';

/**
 * `breachwave_action_outcomes_total{action,outcome,class,code}`: the outcomes this process's
 * action workers recorded in the ledger, one per account. Every label comes from a fixed set —
 * the three actions, the ledger's outcomes, the error catalog's kinds and codes (`none` for a
 * success or a deferral) — so the series are bounded whatever the waves hold.
 */
export function registerOutcomeMetrics(registry: Registry): (settled: SettledOutcome) => void {
  const counter = new Counter({
    name: 'breachwave_action_outcomes_total',
    help: 'Action outcomes the workers of this process recorded in the ledger, one per account: by action (rotate-pin, issue-code, notify), outcome (done, failed, skipped, cancelled, retry, throttled, ambiguous, deferred), class (the error catalog\'s kind, or none) and code (the catalog code, or none).',
    labelNames: ['action', 'class', 'code', 'outcome'],
    registers: [registry],
  });
  return (o) => counter.inc({ action: o.action, class: o.class, code: o.code, outcome: o.outcome });
}
