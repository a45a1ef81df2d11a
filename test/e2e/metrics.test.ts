import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor, freePort } from '@breachwave/testkit';
import { serviceEnv, spawnService, tempDir, useWorld, waitForLog, type ServiceProcess } from './harness.js';
import { pinEnv } from './pin-support.js';

const world = useWorld();

/** The value of the sample of `name` carrying every one of `labels` (in any order), or undefined. */
function sample(text: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('a small wave through the workers: every service serves /metrics behind its token, and what they export agrees with the ledger', { timeout: 240_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('metrics');
  const prefix = `met${randomBytes(3).toString('hex')}`;
  const token = randomBytes(24).toString('hex');
  // No sweep during the test: a completed wave leaves the per-wave series, and the test reads them.
  const base = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), ...pinEnv(), BW_METRICS_TOKEN: token, BW_METRICS_CACHE_MS: '0', BW_RECOVERY_INTERVAL_MS: '3600000', BW_AUDIT_DIR: join(dir, 'audit') };
  const config = loadConfig(base);
  const ledger = createLedger({ redis, prefix });
  const file = join(dir, 'accounts.csv');
  writeFileSync(file, ['account_id,segment,phone,email', ...Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? `M${i},former,202555${1100 + i},` : `M${i},former,,m${i}@metrics.example.com`))].join('\n') + '\n');
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, log: silentLogger(),
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))) });

  const services = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer'] as const;
  const ports = new Map<string, number>();
  const procs: ServiceProcess[] = [];
  try {
    for (const s of services) {
      const port = await freePort();
      ports.set(s, port);
      procs.push(spawnService(s, { ...base, BW_METRICS_PORT: String(port) }, dir));
    }
    await Promise.all(procs.map((p, i) => waitForLog(p, services[i] === 'audit-writer' ? 'audit writer started' : `${services[i]} started`)));
    const feeder = createFeeder({ ledger, connection: redis, prefix, window: 100, batch: 10, log: silentLogger() });
    await feeder.feed(wave.waveId);
    await feeder.close();
    await waitFor(async () => ((await ledger.counts(wave.waveId))['notify:done'] ?? 0) === wave.stats.accepted, { timeout: 90_000, what: 'every notice sent' });
    const p = await waveProgress(ledger, wave.waveId);

    for (const s of services) {
      const url = `http://127.0.0.1:${ports.get(s)}`;
      assert.equal((await fetch(`${url}/metrics`)).status, 401, `${s}: no metrics without the token`);
      assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401, `${s}: nor with a wrong one`);
      assert.equal((await fetch(`${url}/healthz`)).status, 200, `${s}: alive`);
      assert.equal((await fetch(`${url}/readyz`)).status, 200, `${s}: ready`);
      const before = (await ledger.getWave(wave.waveId)).status;
      const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      const after = (await ledger.getWave(wave.waveId)).status;
      // A recovery sweep may mark the wave completed at any moment; a completed wave's series end.
      const done = sample(text, 'breachwave_wave_accounts', { wave: wave.waveId, action: 'notify', state: 'done' });
      if (before === 'fed' && after === 'fed') assert.equal(done, p.actions.notify?.done, `${s}: the wave's notices done, as the ledger counts them`);
      else if (before === 'completed') assert.equal(done, undefined, `${s}: a completed wave has no series`);
      assert.equal(sample(text, 'breachwave_redis_up', {}), 1, `${s}: Redis up`);
      assert.ok(Number(/^breachwave_worker_heartbeat_timestamp_seconds\{[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0) > 0 || s === 'audit-writer', `${s}: its heartbeat`);
      for (const leak of ['202555', '@metrics.example.com']) assert.ok(!text.includes(leak), `${s}: no contact data in the metrics`);
    }
    const notifier = await (await fetch(`http://127.0.0.1:${ports.get('notifier')}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.equal(sample(notifier, 'breachwave_provider_request_seconds_count', { channel: 'sms', outcome: 'ok' }), p.sent.sms, 'the notifier timed each SMS the ledger records as sent');
    assert.equal(sample(notifier, 'breachwave_provider_request_seconds_count', { channel: 'email', outcome: 'ok' }), p.sent.email, 'and each email');
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
  }
});
