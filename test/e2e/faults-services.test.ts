import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRILL, recordDrill, runDrill } from './drill.js';
import { useWorld } from './harness.js';

const world = useWorld({ twilio: { latencyMs: 5 } });
const ACCOUNTS = DRILL.accounts;

for (const victim of ['audit-writer', 'feeder'] as const) {
  test(`SIGKILL of the ${victim} three times mid-wave, each restarted: nobody stranded, the audit chain and its checkpoints verify`, { timeout: 240_000 }, async () => {
    const r = await runDrill({ name: `SIGKILL ${victim} x3`, victim, faults: 3, signal: 'SIGKILL', accounts: ACCOUNTS, twilio: world.twilio, smtp: world.smtp, redisUrl: world.server.url });
    assert.equal(r.stranded, 0);
    recordDrill(r);
  });
}

test('a rolling SIGTERM restart of the notifier, three times: every running notice drains, none stalls, none is sent twice', { timeout: 240_000 }, async () => {
  const r = await runDrill({ name: 'SIGTERM notifier x3 (rolling restart)', victim: 'notifier', faults: 3, signal: 'SIGTERM', accounts: ACCOUNTS, twilio: world.twilio, smtp: world.smtp, redisUrl: world.server.url });
  assert.equal(r.stranded, 0);
  assert.equal(r.duplicateEmail + r.duplicateSms, 0, 'a drained restart leaves nothing ambiguous');
  recordDrill(r);
});
