import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave, dryRunWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor } from '@breachwave/testkit';
import { serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();

test('family plan through the notifier service: one SMS to the shared phone naming every line, one email naming both, singles unchanged, the ledger exact per account', { timeout: 120_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('family');
  const prefix = `fam${randomBytes(3).toString('hex')}`;
  const env = serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp });
  const config = loadConfig(env);
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));

  // A family of four on one phone and a couple on one email, their rows far apart among 60 singles.
  const rows = ['account_id,segment,phone,email,exposed'];
  const family = ['ACCT-00000170', 'ACCT-00000171', 'ACCT-00000172', 'ACCT-00000173'];
  const couple = ['ACCT-00000300', 'ACCT-00000301'];
  const placed = new Map<number, string>([
    [0, `${family[0]},former,+1 312 201 0001,,name;phone`], [15, `${family[1]},former,(312) 201-0001,,phone`],
    [31, `${family[2]},postpaid-current,312-201-0001,,name;ssn`], [47, `${family[3]},former,+13122010001,,name`],
    [5, `${couple[0]},former,,pat@example.com,email`], [40, `${couple[1]},former,,Pat@Example.com,name;email`],
  ]);
  for (let i = 0; i < 66; i++) rows.push(placed.get(i) ?? `ACCT-${String(900 + i).padStart(8, '0')},former,+1 415 201 ${String(1000 + i)},,name`);
  const file = join(dir, 'accounts.csv');
  writeFileSync(file, `${rows.join('\n')}\n`);

  const wave = await createWave({ ledger, file, brand: config.brand, helpUrl: config.helpUrl, rules: {}, dataDir: dir, envelope, log: silentLogger() });
  assert.equal(wave.stats.accepted, 66);
  const dry = await dryRunWave(ledger, wave.waveId);
  assert.deepEqual(dry.consolidated, { notices: 2, accounts: 6 });
  assert.deepEqual(dry.notices, { sms: 60 + 1, email: 1 });

  const notifier = spawnService('notifier', { ...env, LOG_LEVEL: 'info' }, dir);
  try {
    await waitForLog(notifier, 'notifier started');
    const feeder = createFeeder({ ledger, connection: redis, prefix, window: 300, batch: 20, accountsPerJob: 5, log: silentLogger() });
    assert.equal((await feeder.feed(wave.waveId)).fed, 66);
    await feeder.close();
    await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 90_000, what: 'wave complete' });
  } finally {
    await notifier.kill('SIGTERM');
  }

  const toFamily = twilio.messages.filter((m) => m.to === '+13122010001');
  assert.equal(toFamily.length, 1, 'one SMS to the family phone');
  assert.match(toFamily[0]?.body ?? '', /accounts ending in 0170, 0171, 0172 and 0173\./);
  assert.match(toFamily[0]?.body ?? '', /Account 0172: a data breach exposed your name and SSN\./);
  assert.doesNotMatch(toFamily[0]?.body ?? '', /ACCT-/);
  const toCouple = smtp.messages.filter((m) => m.envelope.to.includes('pat@example.com'));
  assert.equal(toCouple.length, 1, 'one email to the shared address');
  assert.match(toCouple[0]?.text ?? '', /accounts ending in 0300 and 0301/);
  assert.equal(twilio.messages.length, 61, 'the 60 singles each got their own SMS');
  assert.equal(smtp.messages.length, 1);

  const p = await waveProgress(ledger, wave.waveId);
  assert.equal(p.actions.notify?.done, 66, 'every account done: accounts = terminal outcomes');
  assert.deepEqual(p.sent, { sms: 64, email: 2 }, 'accounts sent to, per channel');
  assert.deepEqual(p.messages, { sms: twilio.messages.length, email: smtp.messages.length }, 'messages, as the sinks received them');
  assert.equal(p.consolidated, 6);
  for (const id of [...family, ...couple]) {
    const e = (await ledger.get(wave.waveId, id))?.notify;
    assert.equal(e?.s, 'done', id);
    assert.equal(e?.pid, family.includes(id) ? toFamily[0]?.sid : toCouple[0]?.messageId);
  }
});
