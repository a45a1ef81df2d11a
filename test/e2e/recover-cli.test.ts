import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createActionQueues } from '@breachwave/actions';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { entryArgs, waitFor } from '@breachwave/testkit';
import { ROOT, serviceEnv, tempDir, useWorld } from './harness.js';

const world = useWorld();

function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('wave recover finds the accounts whose jobs were lost, says what it would do with --dry-run, re-drives them, and wave status shows them until then', { timeout: 120_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('recover');
  const prefix = `recover${randomBytes(3).toString('hex')}`;
  // Short lock and stalled interval: an account counts as orphaned 700 ms after its last change.
  const env = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), BW_LOCK_DURATION_MS: '500', BW_STALLED_INTERVAL_MS: '200' };
  const config = loadConfig(env);
  const ledger = createLedger({ redis, prefix });
  const file = join(dir, 'accounts.csv');
  writeFileSync(file, ['account_id,segment,email', ...Array.from({ length: 30 }, (_, i) => `R${i},former,r${i}@recover.example.com`)].join('\n') + '\n');
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, log: silentLogger(),
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))) });
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 100, batch: 10, accountsPerJob: 20, log: silentLogger() });
  await feeder.feed(wave.waveId);
  await feeder.close();
  // Every job is lost (as when BullMQ fails them for good, or someone cleans the queue); no worker runs.
  const queues = createActionQueues({ connection: redis, prefix });
  try {
    await queues.queueFor('notify').obliterate({ force: true });

    const dry = await waitFor(() => {
      const r = cli(['wave', 'recover', wave.waveId, '--dry-run', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { orphans: number; open: number; redriven: Record<string, number>; dryRun: boolean };
      return report.orphans === 30 ? report : undefined;
    }, { timeout: 20_000, interval: 200, what: 'the lost accounts found as orphans' });
    assert.deepEqual(dry.redriven, { notify: 30 });
    assert.equal(dry.dryRun, true);
    assert.equal(await queues.queueFor('notify').count(), 0, 'a dry run queues nothing');

    const status = cli(['wave', 'status', wave.waveId], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /open 30 \(oldest waiting \d+ s\)/);
    assert.match(status.stdout, /orphaned \(no live job\) 30: would re-drive notify 30/);

    const done = cli(['wave', 'recover', wave.waveId, '--json'], env);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual((JSON.parse(done.stdout) as { redriven: Record<string, number> }).redriven, { notify: 30 });
    assert.equal(await queues.queueFor('notify').count(), 30, 'each orphan has a job again');
    const again = cli(['wave', 'recover', wave.waveId, '--json'], env);
    assert.equal((JSON.parse(again.stdout) as { orphans: number }).orphans, 0, 'their jobs are live: nothing more to do');

    const unknown = cli(['wave', 'recover', 'no-such-wave'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /BW_WAVE_NOT_FOUND/);
  } finally {
    await queues.close();
  }
});
