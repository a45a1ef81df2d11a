/**
 * The soak (not part of the default test run: `pnpm reliability --soak --minutes 60`): one wave
 * paced to last about BW_SOAK_MINUTES minutes, 1 % of Twilio requests answered 500 and 1 % of
 * SMTP transactions 451, a random worker SIGKILLed every few minutes, Redis memory and every
 * service's RSS sampled once a minute, and the drill's invariants checked at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordDrill, runDrill } from './drill.js';
import { useWorld } from './harness.js';

const world = useWorld({ twilio: { latencyMs: 5 } });
const minutes = Number(process.env.BW_SOAK_MINUTES ?? 60);
const rate = 10;

test(`soak: ${minutes} minutes, 1% provider errors, a random worker killed every few minutes`, { timeout: (minutes + 15) * 60_000 }, async () => {
  world.twilio.inject('server-error', { probability: 0.01 });
  world.smtp.inject('temp-451', { probability: 0.01 });
  const spacingMs = Math.min(180_000, Math.max(20_000, (minutes * 60_000) / 20));
  const r = await runDrill({
    name: `soak ${minutes} min`, victim: 'notifier', faults: Math.max(1, Math.floor((minutes * 60_000) / spacingMs) - 1), signal: 'SIGKILL',
    // Two channels at `rate` each: the wave lasts about `minutes`.
    accounts: Math.max(200, Math.floor(minutes * 60 * rate * 1.6)), twilio: world.twilio, smtp: world.smtp, redisUrl: world.server.url,
    providerFaults: '1% Twilio 500, 1% SMTP 451', completeWithinMs: 15 * 60_000,
    soak: { spacingMs, victims: ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer'], rate },
  });
  assert.equal(r.stranded, 0);
  recordDrill(r);
});
