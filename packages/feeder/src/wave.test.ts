import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createLedger } from '@breachwave/ledger';
import { acquireRedis, captureLog, type TestRedis } from '@breachwave/testkit';
import { createWave, readWaveWarnings } from './wave.js';
import { dropPrefix, producerClient, randomPrefix, tempDir, testEnvelope } from './test-support.js';

let server: TestRedis;
let redis: Redis;

before(async () => {
  server = await acquireRedis();
  redis = producerClient(server.url);
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

test('a wave stores its rows accepted with warnings, by warning, beside its other counters', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(redis, prefix));
  const dir = await tempDir(t);
  const file = join(dir, 'warn.csv');
  await writeFile(file, [
    'account_id,segment,phone,email,time_zone',
    'A1,former,555-CALL-NOW,a1@example.com,',
    'A2,former,(202) 555-0143,"a2@example.com, b@example.com",Mars/Olympus',
    'A3,former,(202) 555-0144,,America/Chicago',
    'A4,former,(800) 555-0199,,',
    '',
  ].join('\n'));
  const ledger = createLedger({ redis, prefix });
  const wave = await createWave({ ledger, file, brand: 'B', helpUrl: 'https://help.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log });
  assert.deepEqual(wave.stats, {
    rows: 4, accepted: 3, rejected: 1, duplicates: 0, dropped_columns: 0,
    warned: 2, warnings: { phone_invalid: 1, email_multiple: 1, time_zone_unknown: 1 },
  });
  assert.deepEqual(await readWaveWarnings(redis, prefix, wave.waveId), { warned: 2, warnings: { phone_invalid: 1, email_multiple: 1, time_zone_unknown: 1 } });
  assert.deepEqual((await ledger.getWave(wave.waveId)).stats, { rows: 4, accepted: 3, rejected: 1, duplicates: 0, dropped_columns: 0 });
  // A wave without the fields (created before warnings were counted) reads as none.
  assert.deepEqual(await readWaveWarnings(redis, prefix, 'w-none'), { warned: 0, warnings: {} });
});
