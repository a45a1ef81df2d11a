import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRILL, recordDrill, runDrill } from './drill.js';
import { useWorld } from './harness.js';

const world = useWorld({ twilio: { latencyMs: 5, seed: 7 }, smtp: { seed: 13 } });
const ACCOUNTS = DRILL.accounts;

test('provider storms (Twilio 429, 5xx, hangs, reset after accept; SMTP 421, 451, 550, drop after DATA) while the notifier is SIGKILLed twice: nobody stranded, no SMS doubled, emails doubled only where the outcome was ambiguous', { timeout: 300_000 }, async () => {
  const { twilio, smtp } = world;
  twilio.inject('throttle', { probability: 0.2 });
  twilio.inject('server-error', { probability: 0.05 });
  twilio.inject('hang', { probability: 0.01 });
  twilio.inject('reset-after-accept', { probability: 0.02 });
  smtp.inject('temp-421', { probability: 0.1 });
  smtp.inject('temp-451', { probability: 0.1 });
  smtp.inject('reject-550', { probability: 0.01 });
  smtp.inject('drop-after-data', { probability: 0.02 });
  const r = await runDrill({
    name: 'provider storms + SIGKILL notifier x2', victim: 'notifier', faults: 2, signal: 'SIGKILL', accounts: ACCOUNTS, twilio, smtp, redisUrl: world.server.url,
    providerFaults: 'Twilio 20% 429, 5% 500, 1% hang, 2% reset after accept; SMTP 10% 421, 10% 451, 1% 550, 2% drop after DATA',
    // A hung request is given up (and reconciled) after 2 s instead of 15.
    extraEnv: { TWILIO_TIMEOUT_MS: '2000' }, completeWithinMs: 180_000,
  });
  assert.equal(r.stranded, 0);
  assert.ok(twilio.injectedFaults.throttle > 0 && smtp.injectedFaults['temp-421'] > 0 && smtp.injectedFaults['drop-after-data'] > 0, 'the storms happened');
  recordDrill(r);
});
