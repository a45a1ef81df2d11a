import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportedNames, namesIn, readText } from './exported.js';

interface Panel { readonly title?: string; readonly targets?: readonly { readonly expr?: string }[]; readonly panels?: readonly Panel[] }

test('every metric the Grafana dashboard queries is one the processes export', async () => {
  const dashboard = JSON.parse(readText('infra/grafana/breachwave.json')) as { panels: Panel[]; templating: { list: { query?: unknown }[] } };
  const exported = await exportedNames();
  const exprs: { title: string; expr: string }[] = [];
  const walk = (panels: readonly Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) exprs.push({ title: p.title ?? '', expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    const q = v.query as { query?: string } | string | undefined;
    const text = typeof q === 'string' ? q : q?.query;
    if (text) exprs.push({ title: 'variable', expr: text });
  }
  assert.ok(exprs.length >= 15, `found ${exprs.length} expressions`);
  const unknown = exprs.flatMap(({ title, expr }) => namesIn(expr).filter((n) => !exported.has(n)).map((n) => `${title}: ${n}`));
  assert.deepEqual(unknown, []);
});
