import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRILL, recordDrill, runDrill } from './drill.js';
import { useWorld } from './harness.js';

// Providers answer after a few milliseconds, so sends are in flight when a process dies.
const world = useWorld({ twilio: { latencyMs: 5 } });
const ACCOUNTS = DRILL.accounts;

for (const victim of ['pin-rotator', 'notifier', 'code-issuer'] as const) {
  test(`SIGKILL of the ${victim} three times mid-wave, multi-account jobs in flight, BullMQ's default stall limit: nobody stranded, no PIN rotated without its notice`, { timeout: 240_000 }, async () => {
    const r = await runDrill({ name: `SIGKILL ${victim} x3`, victim, faults: 3, signal: 'SIGKILL', accounts: ACCOUNTS, twilio: world.twilio, smtp: world.smtp, redisUrl: world.server.url });
    assert.equal(r.stranded, 0);
    assert.equal(r.pinUnnotified, 0);
    recordDrill(r);
  });
}
