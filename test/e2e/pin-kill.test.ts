import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createActionQueues } from '@breachwave/actions';
import { loadConfig } from '@breachwave/config';
import { DEFAULT_ACTION_RULES } from '@breachwave/domain';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress, type LedgerEntry } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { createVaultPinStore } from '@breachwave/pin';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor } from '@breachwave/testkit';
import { dumpRedis, serviceEnv, spawnFaulty, spawnService, tempDir, useWorld, type ServiceProcess } from './harness.js';
import { TEMP_PIN, assertNoPinLeaks, phoneFor, pinEnv, pinParts, startPinNotifier, writeAccounts, type Row } from './pin-support.js';

const world = useWorld();

const CRASH_POINTS = ['before-store', 'after-store', 'before-ack'] as const;
const PER_WAVE = 6;

test('SIGKILL of the pin-rotator before the store call, after it, and before the ack: one rotation per account, and the PIN delivered is the PIN stored', { timeout: 90_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('pinkill');
  const prefix = `pinkill${randomBytes(3).toString('hex')}`;
  const env = {
    ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }),
    ...pinEnv({ BW_PIN_CONCURRENCY: '4' }),
    // A killed worker's job is re-run once its lock expires: keep that short for the test.
    BW_LOCK_DURATION_MS: '1500',
    BW_STALLED_INTERVAL_MS: '500',
  };
  const config = loadConfig(env);
  const logFile = join(dir, 'test-process.log');
  const { pino } = await import('pino');
  const log = createLogger({ name: 'e2e-pin-kill', destination: pino.destination({ dest: logFile, sync: true }) });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const { keyring, hold } = pinParts(config, redis);
  const vault = createVaultPinStore({ redis, prefix, keyring });
  const queues = createActionQueues({ connection: { url: server.url, maxRetriesPerRequest: null }, prefix });
  const notifier = await startPinNotifier(config, redis, log);
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 100, batch: 10, log });
  const processes: ServiceProcess[] = [];
  const delivered: string[] = [];

  try {
    for (const [round, point] of CRASH_POINTS.entries()) {
      const rows: Row[] = Array.from({ length: PER_WAVE }, (_, k) => ({
        account_id: `K${round}-${k}`, segment: 'prepaid-active', exposed: 'name;phone;pin', phone: phoneFor(round * 10 + k),
      }));
      const file = join(dir, `accounts-${point}.csv`);
      writeAccounts(file, rows);
      // One notice per account: this test matches each account with its own message.
      const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, rules: { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'] },
        pinDelivery: 'sms-temporary', dataDir: dir, envelope, log });
      await feeder.feed(wave.waveId);

      // One job at a time, so exactly one is in flight when the process kills itself.
      const crashing = spawnFaulty('pin-rotator', { ...env, BW_PIN_CONCURRENCY: '1' }, dir, `crash-${point}`, [`--crash-at=${point}`]);
      processes.push(crashing);
      await crashing.exited;
      assert.equal(crashing.child.signalCode, 'SIGKILL', `${point}: the rotator died by SIGKILL`);

      // What the dead process left behind.
      const atKill = new Map<string, LedgerEntry>();
      for await (const [id, entry] of ledger.entries(wave.waveId)) atKill.set(id, entry);
      const state = (s: string) => [...atKill].filter(([, e]) => e['rotate-pin']?.s === s).map(([id]) => id);
      const victim = point === 'before-ack' ? state('done') : state('claimed');
      assert.equal(victim.length, 1, `${point}: one rotation was in flight`);
      const id = victim[0] ?? '';
      const heldAtKill = await hold.open(wave.waveId, id);
      if (point === 'before-store') {
        assert.ok(heldAtKill, 'the PIN was sealed before the store call');
        assert.equal(await vault.read(id), undefined, 'the store was not called');
      } else if (point === 'after-store') {
        assert.ok(heldAtKill);
        assert.equal((await vault.read(id))?.applied, 1, 'the store applied the rotation');
        assert.equal((await vault.read(id))?.verifier, keyring.compute(id, heldAtKill));
      } else {
        assert.equal(await (await queues.queueFor('rotate-pin').getJob(`rotate-pin.${wave.waveId}.${id}`))?.getState(), 'active', 'recorded in the ledger, never acked');
      }

      const recovery = spawnService('pin-rotator', env, dir, `recover-${point}`);
      processes.push(recovery);
      await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 30_000, what: `wave after ${point} complete` });
      if (point === 'before-ack') {
        await waitFor(async () => (await (await queues.queueFor('rotate-pin').getJob(`rotate-pin.${wave.waveId}.${id}`))?.getState()) === 'completed',
          { timeout: 15_000, what: 'the un-acked job re-ran and completed' });
      }
      assert.equal(await recovery.kill('SIGTERM'), 0);

      for (const row of rows) {
        const a = row.account_id;
        const entry = await ledger.get(wave.waveId, a);
        assert.equal(entry?.['rotate-pin']?.s, 'done', `${a} rotated`);
        assert.equal(entry?.notify?.s, 'done', `${a} notified`);
        assert.equal((await vault.read(a))?.applied, 1, `${point}/${a}: exactly one applied rotation`);
        const texts = twilio.messages.filter((m) => m.to === row.phone);
        assert.equal(texts.length, 1, `${a}: one SMS`);
        const pin = TEMP_PIN.exec(texts[0]?.body ?? '')?.[1];
        assert.ok(pin, `${a}: the SMS carries the temporary PIN`);
        assert.equal((await vault.read(a))?.verifier, keyring.compute(a, pin), `${point}/${a}: the PIN delivered is the PIN stored`);
        if (a === id && heldAtKill) assert.equal(pin, heldAtKill, `${point}: the retry delivered the PIN drawn before the crash`);
        delivered.push(pin);
      }
      const victimEntry = await ledger.get(wave.waveId, id);
      assert.equal(victimEntry?.['rotate-pin']?.n, point === 'before-ack' ? 1 : 2, `${point}: the re-claim is visible in the ledger`);
      const done = (await redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; wave?: string; account?: string; detail?: Record<string, unknown> })
        .filter((r) => r.type === 'rotate-pin.done' && r.wave === wave.waveId && r.account === id);
      assert.equal(done.length, 1, `${point}: one rotate-pin.done record`);
      if (point !== 'before-ack') {
        assert.equal(done[0]?.detail?.reusedHeldPin, true, `${point}: the retry reused the sealed PIN`);
        assert.equal(done[0]?.detail?.outcome, point === 'after-store' ? 'replayed' : 'applied');
      }
      assert.deepEqual(await redis.keys(`${prefix}:pin:held:${wave.waveId}:*`), [], 'held PINs wiped after their notices');
    }
  } finally {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await feeder.close();
    await notifier.close();
    await queues.close();
  }

  assert.equal(delivered.length, CRASH_POINTS.length * PER_WAVE);
  log.flush();
  assertNoPinLeaks(delivered, {
    redisAndAuditStream: await dumpRedis(redis, prefix),
    rotatorLogs: processes.map((p) => readFileSync(p.logFile, 'utf8')).join('\n'),
    notifierAndTestLog: readFileSync(logFile, 'utf8'),
  });
});
