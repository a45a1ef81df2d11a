import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress, type LedgerEntry } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { waitFor } from '@breachwave/testkit';
import { expectedAccounts, expectedNotice, serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

// Provider latency keeps sends in flight, so the kill lands between claim and record.
const world = useWorld({ twilio: { latencyMs: 40 } });

test('SIGKILL of a notifier mid-wave, then a restart: no account lost, no recorded send repeated', { timeout: 180_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('kill');
  const prefix = `kill${randomBytes(3).toString('hex')}`;
  const env = {
    ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }),
    BW_NOTIFY_CONCURRENCY: '20',
    // A killed worker's jobs are re-run once their lock expires: keep that short for the test.
    BW_LOCK_DURATION_MS: '2000',
    BW_STALLED_INTERVAL_MS: '1000',
  };
  const config = loadConfig(env);
  const log = silentLogger();
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 1000, seed: 11, malformedRate: 0, duplicateRate: 0 });
  const expected = expectedAccounts(readFileSync(file, 'utf8'));
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, rules: {}, dataDir: dir, envelope, log });
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 2000, batch: 200, accountsPerJob: 20, log });
  await feeder.feed(wave.waveId);
  await feeder.close();

  // The kill must land while sends are in flight (claimed, not yet recorded). The moment is
  // chosen from the ledger: a quarter of the wave sent and an account claimed. A claim can still
  // settle in the instant before the kill lands (a loaded machine may also pause the notifier
  // between jobs), so a kill that finds nothing in flight is followed by a restart and another
  // kill, a bounded number of times. Such a kill leaves no send unrecorded behind it (no account
  // was claimed), so it cannot cause a repeat: the kill that counts is the last one, the first to
  // find sends in flight, and every check below holds for it as for a single kill.
  const maxKills = 5;
  let recorded: [string, LedgerEntry][] = [];
  let inFlight: [string, LedgerEntry][] = [];
  for (let kill = 1; inFlight.length === 0; kill++) {
    assert.ok(kill <= maxKills, `the kill landed while sends were in flight (none in ${maxKills} kills)`);
    const victim = spawnService('notifier', env, dir, `kill-${kill}`);
    await waitForLog(victim, 'notifier started');
    await waitFor(async () => {
      const c = await ledger.counts(wave.waveId);
      const sent = (c['notify:sent:sms'] ?? 0) + (c['notify:sent:email'] ?? 0);
      // Claims left by an earlier kill: none (that is why it is followed by this one), so a claim
      // seen here is this process's.
      return sent >= expected.size / 4 && (c['notify:claimed'] ?? 0) > 0;
    }, { timeout: 60_000, interval: 25, what: 'a quarter of the wave sent and a send in flight' });
    await victim.kill('SIGKILL');

    // The dead process can no longer write: this is what was recorded when it died.
    const atKill = new Map<string, LedgerEntry>();
    for await (const [id, entry] of ledger.entries(wave.waveId)) atKill.set(id, entry);
    recorded = [...atKill].filter(([, e]) => e.notify?.s === 'done');
    inFlight = [...atKill].filter(([, e]) => e.notify?.s === 'claimed');
    assert.ok(recorded.length < expected.size, 'the kill landed mid-wave');
  }

  const second = spawnService('notifier', env, dir, 'second');
  await waitForLog(second, 'notifier started');
  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 120_000, interval: 100, what: 'wave complete after restart' });
  assert.equal(await second.kill('SIGTERM'), 0);

  const manifest = (await ledger.getWave(wave.waveId)).manifest;
  const received = new Map<string, number>();
  for (const m of twilio.messages) received.set(m.to, (received.get(m.to) ?? 0) + 1);
  for (const m of smtp.messages) for (const to of m.envelope.to) received.set(to, (received.get(to) ?? 0) + 1);

  // Synthetic numbers come from the fictional 555-01xx range, so some accounts share one.
  const want = new Map<string, number>();
  for (const a of expected.values()) {
    const to = expectedNotice(a, manifest).to;
    want.set(to, (want.get(to) ?? 0) + 1);
  }

  // No account lost: every one finished with a send recorded.
  const final = new Map<string, LedgerEntry>();
  for await (const [id, entry] of ledger.entries(wave.waveId)) final.set(id, entry);
  assert.equal(final.size, expected.size);
  for (const [id, a] of expected) {
    assert.equal(final.get(id)?.notify?.s, 'done', `${id} finished`);
    assert.ok((received.get(expectedNotice(a, manifest).to) ?? 0) >= 1, `${id} was notified`);
  }
  // A send recorded before the kill is never repeated, and keeps its provider id.
  for (const [id, entry] of recorded) {
    const a = expected.get(id);
    assert.ok(a);
    const to = expectedNotice(a, manifest).to;
    if (want.get(to) === 1) assert.equal(received.get(to), 1, `${id} was recorded before the kill and must not be sent again`);
    assert.equal(final.get(id)?.notify?.pid, entry.notify?.pid);
  }
  // Repeats are possible only for sends in flight at the kill, and they are counted as re-claims.
  const duplicates = [...received].reduce((s, [to, n]) => s + n - (want.get(to) ?? 0), 0);
  assert.ok(duplicates <= inFlight.length, `${duplicates} duplicates ≤ ${inFlight.length} in flight`);
  for (const [id] of inFlight) assert.ok((final.get(id)?.notify?.n ?? 0) >= 2, `${id} shows its re-claim`);
});
