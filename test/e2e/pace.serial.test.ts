import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { DEFAULT_HEADROOM } from '@breachwave/pacing';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor } from '@breachwave/testkit';
import { serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();

test('4 notifier processes share one sender pace: never above the configured rate in any second, and below it only by the headroom and the slots lost to stalls', { timeout: 120_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const rate = 50;
  const dir = tempDir('pace');
  const prefix = `pace${randomBytes(3).toString('hex')}`;
  const env = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), BW_SMS_RATE: String(rate), BW_NOTIFY_CONCURRENCY: '20' };
  const config = loadConfig(env);
  const ledger = createLedger({ redis, prefix });
  const n = 600;
  const file = join(dir, 'accounts.csv');
  writeFileSync(file, ['account_id,segment,phone', ...Array.from({ length: n }, (_, i) => `P${i},former,+1202555${String(1000 + i).padStart(4, '0')}`)].join('\n') + '\n');
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, log: silentLogger(),
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))) });
  assert.equal(wave.stats.accepted, n);
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: n, batch: 200, log: silentLogger() });
  await feeder.feed(wave.waveId);
  await feeder.close();
  const notifiers = Array.from({ length: 4 }, (_, i) => spawnService('notifier', env, dir, `notifier-${i}`));
  await Promise.all(notifiers.map((p) => waitForLog(p, 'notifier started')));
  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 60_000, what: 'wave sent' });
  await Promise.all(notifiers.map((p) => p.kill('SIGTERM')));
  // Each notifier logs its pacer's counters when it stops: slots granted, and slots wasted
  // because its event loop released them too late to be sent within the pace's tolerance.
  let granted = 0;
  let wasted = 0;
  for (const p of notifiers) {
    const stopped = readFileSync(p.logFile, 'utf8').split('\n').find((l) => l.includes('"notifier stopped"'));
    assert.ok(stopped, `${p.logFile} logs "notifier stopped"`);
    const pace = (JSON.parse(stopped) as { pace: Record<string, { granted: number; wasted: number }> }).pace;
    for (const s of Object.values(pace)) {
      granted += s.granted;
      wasted += s.wasted;
    }
  }
  assert.equal(granted, n, 'one slot granted per message');

  const times = twilio.requests.filter((r) => r.method === 'POST' && r.status === 201).map((r) => r.time.getTime()).sort((a, b) => a - b);
  assert.equal(times.length, n);
  const first = times[0] ?? 0;
  const last = times.at(-1) ?? 0;
  const measured = (times.length - 1) / ((last - first) / 1000);
  let maxWindow = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] ?? 0) - (times[j] ?? 0) >= 1000) j++;
    maxWindow = Math.max(maxWindow, i - j + 1);
  }
  console.log(`pace with 4 notifier processes: configured ${rate}/s, measured ${measured.toFixed(2)}/s, busiest second ${maxWindow}, slots wasted to stalls ${wasted}`);
  // Never above the configured rate. Below it by the pacer's 1 % headroom and by the slots the
  // notifiers' event loops released too late (counted, so the shortfall is accounted for,
  // however loaded the machine is), and by nothing else. How close to the rate it runs on an
  // unloaded machine is a figure of `pnpm bench` (pacing section), not of this test.
  assert.ok(measured <= rate, `measured ${measured.toFixed(2)}/s ≤ ${rate}/s`);
  const expected = rate * (1 - DEFAULT_HEADROOM) * (granted / (granted + wasted));
  // The floor catches a pacer that under-sends (a grid spaced twice too wide, slots lost without
  // being counted), with room for what the wasted-slot count misses on a loaded machine: a
  // notifier starved of CPU asks for its next slot late without wasting one (seen at 76 % of the
  // expected rate with the machine's two cores shared by five other test processes).
  assert.ok(measured >= expected * 0.6, `measured ${measured.toFixed(2)}/s not below 60% of the ${expected.toFixed(2)}/s that the headroom and ${wasted} wasted slots leave`);
  // How many slots stalls waste depends on how loaded the machine is (on a 2-core box at load 5–8,
  // ~15 % of them): it is counted and accounted for above, not bounded here.
  // Measured at the receiving server, arrival times carry HTTP and event-loop jitter of a few
  // ms, which can pull a neighbouring slot into a one-second window; the pacer's own 4-process
  // test checks rate·W + 1 at send time. Allow that jitter (5 slots = 100 ms at 50/s), no more.
  assert.ok(maxWindow <= rate + 5, `busiest 1 s window at the provider ${maxWindow} ≤ ${rate} + jitter allowance`);
});
