import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createLedger, keys as ledgerKeys } from '@breachwave/ledger';
import { entryArgs, useRedis } from '@breachwave/testkit';

const db = useRedis();
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [...entryArgs(MAIN), ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('wave status and wave watch show the wave against its notice deadline, warn when it is at risk, and watch ends when the wave is complete', { timeout: 120_000 }, async () => {
  const prefix = `cliw${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis: db.redis, prefix });
  const deadline = new Date(Date.now() + 3_600_000).toISOString();
  await ledger.createWave({ waveId: 'w1', createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {},
    regulatory: { determinedAt: new Date(Date.now() - 29 * 86_400_000).toISOString(), deadline, rule: 'FCC: 30 days' } }, { rows: 2, accepted: 2, rejected: 0 }, {});
  await ledger.setWaveStatus('w1', 'feeding', 'feeder');
  await ledger.initAccounts('w1', 'feeder', ['a1', 'a2'].map((accountId) => ({ accountId, actions: ['notify'] })));
  await ledger.setWaveStatus('w1', 'fed', 'feeder');
  const env = { REDIS_URL: db.url, BW_PREFIX: prefix };

  const status = cli(['wave', 'status', 'w1'], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`deadline ${deadline} \\(FCC: 30 days\\): (59 min|1 h 00 min) left`));
  assert.match(status.stdout, /WARNING: at this pace the wave may miss the notice deadline/, 'nothing sent with an hour left');
  assert.match(status.stdout, /notified 0%/);
  const json = JSON.parse(cli(['wave', 'status', 'w1', '--json'], env).stdout) as { clock: { atRisk: boolean; deadline: string } };
  assert.deepEqual([json.clock.atRisk, json.clock.deadline], [true, deadline]);

  for (const a of ['a1', 'a2']) {
    await ledger.transition({ waveId: 'w1', accountId: a, action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' });
    await ledger.transition({ waveId: 'w1', accountId: a, action: 'notify', actor: 't', from: ['claimed'], to: 'done', event: 'notify.done', patch: { ch: 'email' } });
  }
  const watched = cli(['wave', 'watch', 'w1', '--json', '--interval', '1'], env);
  assert.equal(watched.code, 0, watched.stderr);
  const samples = watched.stdout.trim().split('\n').map((l) => JSON.parse(l) as { complete: boolean; clock: { notifiedPct: number; atRisk: boolean; etaSeconds: number } });
  assert.equal(samples.length, 1, 'a complete wave: one sample, then the watch ends');
  assert.deepEqual([samples[0]?.complete, samples[0]?.clock.notifiedPct, samples[0]?.clock.atRisk, samples[0]?.clock.etaSeconds], [true, 100, false, 0]);
  const plain = cli(['wave', 'watch', 'w1'], env);
  assert.match(plain.stdout, /wave w1: fed \(complete\) {2}finished 2\/2 {2}rate .* ETA done {2}notified 100% {2}deadline in (59 min|1 h 00 min)/);
  const unknown = cli(['wave', 'watch', 'nope', '--json'], env);
  assert.equal(unknown.code, 2);
  assert.equal((JSON.parse(unknown.stdout) as { error: { code: string } }).error.code, 'BW_WAVE_NOT_FOUND');
});

test('wave status warns that a wave is stuck once nothing has finished for BW_STUCK_AFTER_SECONDS, and not before', { timeout: 120_000 }, async () => {
  const prefix = `clis${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis: db.redis, prefix });
  await ledger.createWave({ waveId: 'w1', createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, { rows: 2, accepted: 2, rejected: 0 }, {});
  await ledger.initAccounts('w1', 'feeder', ['a1', 'a2'].map((accountId) => ({ accountId, actions: ['notify'] })));
  await ledger.setWaveStatus('w1', 'fed', 'feeder');
  // Fed an hour ago, and no notice has finished since.
  const fedAt = String(Date.now() - 3600_000);
  await db.redis.hset(ledgerKeys(prefix).wave('w1'), { 'first:feeding': fedAt, 'last:feeding': fedAt });
  const env = { REDIS_URL: db.url, BW_PREFIX: prefix };

  const stuck = cli(['wave', 'status', 'w1'], { ...env, BW_STUCK_AFTER_SECONDS: '1800' });
  assert.equal(stuck.code, 0, stuck.stderr);
  assert.match(stuck.stdout, /WARNING: stuck: no notice has finished for (59 min|1 h 00 min|1 h 01 min) while accounts are open/);
  const json = JSON.parse(cli(['wave', 'status', 'w1', '--json'], { ...env, BW_STUCK_AFTER_SECONDS: '1800' }).stdout) as { clock: { stuck: boolean } };
  assert.equal(json.clock.stuck, true);
  const patient = cli(['wave', 'status', 'w1'], { ...env, BW_STUCK_AFTER_SECONDS: '7200' });
  assert.equal(patient.code, 0, patient.stderr);
  assert.doesNotMatch(patient.stdout, /stuck/, 'an hour idle is not stuck with a two-hour threshold');
});
