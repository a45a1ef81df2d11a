import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { createSuppressionList } from '@breachwave/suppression';
import { writeAccountsFile } from '@breachwave/synth';
import { waitFor } from '@breachwave/testkit';
import { expectedAccounts, expectedNotice, serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld({ twilio: { seed: 5 }, smtp: { seed: 9 } });

test('chaos: 5,000 accounts through 30% 429, 5% 500, ambiguous resets and 20% SMTP 451 — every account terminal, no unexplained duplicate, no suppressed contact messaged', { timeout: 300_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('chaos');
  const prefix = `chaos${randomBytes(3).toString('hex')}`;
  const smsRate = 400;
  const env = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), BW_NOTIFY_CONCURRENCY: '50', BW_SMS_RATE: String(smsRate) };
  const config = loadConfig(env);
  const ledger = createLedger({ redis, prefix });
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 5000, seed: 23 });
  const expected = expectedAccounts(readFileSync(file, 'utf8'));
  const manifestLike = { brand: config.brand, helpUrl: config.helpUrl };

  // Some people said STOP / unsubscribed before this wave.
  const list = createSuppressionList({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') });
  const suppressed = new Set<string>();
  for (const a of [...expected.values()].filter((_, i) => i % 97 === 0)) {
    const n = expectedNotice(a, manifestLike);
    await list.suppress(n.channel, n.to, n.channel === 'sms' ? 'stop-keyword' : 'unsubscribe', { source: 'test' });
    suppressed.add(n.to);
  }

  twilio.inject('throttle', { probability: 0.3 });
  twilio.inject('server-error', { probability: 0.05 / 0.7 });
  twilio.inject('reset-after-accept', { probability: 0.02 / 0.65 });
  smtp.inject('temp-451', { probability: 0.2 });
  smtp.inject('drop-after-data', { probability: 0.02 / 0.8 });

  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, envelope, log: silentLogger() });
  const notifiers = [spawnService('notifier', env, dir), spawnService('notifier', env, dir)];
  await Promise.all(notifiers.map((n) => waitForLog(n, 'notifier started')));
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 2000, batch: 500, accountsPerJob: 20, log: silentLogger() });
  await feeder.feed(wave.waveId);
  await feeder.close();
  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 240_000, interval: 200, what: 'every account terminal' });
  await Promise.all(notifiers.map((n) => n.kill('SIGTERM')));

  const p = await waveProgress(ledger, wave.waveId);
  const notify = p.actions.notify ?? {};
  assert.equal((notify.done ?? 0) + (notify.failed ?? 0) + (notify.skipped ?? 0), expected.size, 'every accepted account is terminal');
  assert.ok(twilio.injectedFaults.throttle > 500 && smtp.injectedFaults['temp-451'] > 50, 'the faults really happened');

  // No suppressed contact was messaged.
  for (const m of twilio.messages) assert.ok(!suppressed.has(m.to), 'SMS to a suppressed number');
  for (const m of smtp.messages) for (const to of m.envelope.to) assert.ok(!suppressed.has(to), 'email to a suppressed address');

  // Duplicates only after an injected ambiguous outcome, never more than their count. Twilio's
  // resets are reconciled with the provider, so they should cause none.
  // Where each account's notice should land: its first channel, or — when that contact point is
  // suppressed — the other one (a legally required notice may take another channel).
  const want = new Map<string, number>();
  for (const a of expected.values()) {
    const first = expectedNotice(a, manifestLike).to;
    const other = first === a.phone ? a.email : a.phoneIsMobile !== false ? a.phone : undefined;
    const to = !suppressed.has(first) ? first : other && !suppressed.has(other) ? other : undefined;
    if (to) want.set(to, (want.get(to) ?? 0) + 1);
  }
  const got = new Map<string, number>();
  for (const m of twilio.messages) got.set(m.to, (got.get(m.to) ?? 0) + 1);
  for (const m of [...smtp.messages, ...smtp.unacknowledged]) for (const to of m.envelope.to) got.set(to, (got.get(to) ?? 0) + 1);
  for (const [to, n] of want) assert.ok((got.get(to) ?? 0) >= n, 'every reachable account was notified');
  let extra = 0;
  for (const [to, n] of got) extra += Math.max(0, n - (want.get(to) ?? 0));
  const ambiguousInjected = twilio.injectedFaults['reset-after-accept'] + smtp.injectedFaults['drop-after-data'];
  assert.ok(extra <= smtp.injectedFaults['drop-after-data'], `${extra} extra messages ≤ ${smtp.injectedFaults['drop-after-data']} SMTP drops after DATA (of ${ambiguousInjected} ambiguous outcomes injected)`);
  assert.ok(p.ambiguous >= twilio.injectedFaults['reset-after-accept'], 'every Twilio reset was counted as ambiguous');

  // The pace is never exceeded: every request that reached the provider counts, throttled or not.
  const times = twilio.requests.filter((r) => r.method === 'POST').map((r) => r.time.getTime()).sort((a, b) => a - b);
  let busiest = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] ?? 0) - (times[j] ?? 0) >= 1000) j++;
    busiest = Math.max(busiest, i - j + 1);
  }
  assert.ok(busiest <= smsRate + 1, `busiest second at the provider ${busiest} ≤ ${smsRate} + 1`);
});
