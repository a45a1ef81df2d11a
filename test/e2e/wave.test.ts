import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createAuditWriter, verifyAuditFiles } from '@breachwave/audit';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { waitFor } from '@breachwave/testkit';
import { dumpRedis, expectedAccounts, expectedNotice, leakForms, readDir, serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();

test('a wave of 1,500 rows: every accepted account gets exactly one right notice, and ledger, sinks and audit agree', { timeout: 180_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('e2e');
  const prefix = `e2e${randomBytes(3).toString('hex')}`;
  const env = serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp });
  const config = loadConfig(env);
  const logFile = join(dir, 'test-process.log');
  const { pino } = await import('pino');
  const log = createLogger({ name: 'e2e', destination: pino.destination({ dest: logFile, sync: true }) });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));

  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 1500, seed: 7 });
  const expected = expectedAccounts(readFileSync(file, 'utf8'));
  assert.ok(expected.size > 1000, `at least 1,000 accepted accounts (got ${expected.size})`);

  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, rules: {}, dataDir: dir, envelope, log });
  assert.equal(wave.stats.rows, wave.stats.accepted + wave.stats.rejected, 'rows read = accepted + rejected');
  assert.equal(wave.stats.accepted, expected.size, 'the feeder accepts exactly the valid, first-seen rows');

  const auditDir = join(dir, 'audit');
  const auditRedis = new Redis(server.url, { maxRetriesPerRequest: null });
  const writer = createAuditWriter({ redis: auditRedis, prefix, dir: auditDir, log });
  await writer.start();
  // At debug, the most the notifier ever logs (every send) is what the no-PII scan below reads.
  const notifierEnv = { ...env, LOG_LEVEL: 'debug' };
  const notifiers = [spawnService('notifier', notifierEnv, dir), spawnService('notifier', notifierEnv, dir)];
  await Promise.all(notifiers.map((n) => waitForLog(n, 'notifier started')));
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 300, batch: 100, accountsPerJob: 10, log });
  const fed = await feeder.feed(wave.waveId);
  assert.equal(fed.fed, expected.size);

  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 120_000, what: 'wave complete' });
  await Promise.all(notifiers.map((n) => n.kill('SIGTERM')));
  for (const n of notifiers) assert.equal(n.child.exitCode, 0, `notifier exits cleanly on SIGTERM (${n.logFile})`);
  await feeder.close();

  // Sinks: the exact multiset of (channel, recipient, content) the accounts call for.
  const manifest = (await ledger.getWave(wave.waveId)).manifest;
  const want = new Map<string, number>();
  for (const a of expected.values()) {
    const n = expectedNotice(a, manifest);
    const k = `${n.channel}|${n.to}|${n.content}`;
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  const got = new Map<string, number>();
  for (const m of twilio.messages) got.set(`sms|${m.to}|${m.body}`, (got.get(`sms|${m.to}|${m.body}`) ?? 0) + 1);
  for (const m of smtp.messages) {
    const k = `email|${m.envelope.to.join(',')}|${m.subject ?? ''}\n${(m.text ?? '').trimEnd()}`;
    got.set(k, (got.get(k) ?? 0) + 1);
  }
  const missing = [...want].filter(([k, n]) => got.get(k) !== n).slice(0, 3);
  assert.deepEqual(missing, [], 'each account got exactly one notice with the right channel, recipient and content');
  assert.equal(twilio.messages.length + smtp.messages.length, expected.size);

  // Ledger: every account done, with the provider id the sink issued.
  const sids = new Set(twilio.messages.map((m) => m.sid));
  const messageIds = new Set(smtp.messages.map((m) => m.messageId));
  let done = 0;
  for await (const [accountId, entry] of ledger.entries(wave.waveId)) {
    assert.equal(entry.notify?.s, 'done', accountId);
    const pid = entry.notify?.pid ?? '';
    assert.ok(entry.notify?.ch === 'sms' ? sids.has(pid) : messageIds.has(pid), `provider id of ${accountId} is one the sink issued`);
    done++;
  }
  assert.equal(done, expected.size);
  const p = await waveProgress(ledger, wave.waveId);
  assert.deepEqual(p.sent, { sms: twilio.messages.length, email: smtp.messages.length });

  // Audit: drained, chain verifies, one notify.done per account, matching the ledger.
  await waitFor(async () => {
    await writer.drainOnce();
    return (await redis.xlen(`${prefix}:audit`)) === 0;
  }, { timeout: 30_000, what: 'audit stream drained' });
  await writer.close();
  await auditRedis.quit();
  const auditFiles = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).map((f) => join(auditDir, f));
  const verify = await verifyAuditFiles(auditFiles);
  assert.ok(verify.ok, JSON.stringify(verify));
  const records = auditFiles.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as { type: string; account?: string; detail?: { providerId?: string } });
  const doneRecords = records.filter((r) => r.type === 'notify.done');
  assert.equal(doneRecords.length, expected.size);
  assert.equal(new Set(doneRecords.map((r) => r.account)).size, expected.size);
  for (const r of doneRecords) assert.ok(sids.has(r.detail?.providerId ?? '') || messageIds.has(r.detail?.providerId ?? ''));

  // No raw phone number or email in logs, audit files, or any Redis key or value.
  log.flush();
  const haystacks = { testLog: readFileSync(logFile, 'utf8'), spoolAndRejects: readDir(join(dir, 'waves', wave.waveId)), notifierLogs: notifiers.map((n) => readFileSync(n.logFile, 'utf8')).join('\n'), audit: auditFiles.map((f) => readFileSync(f, 'utf8')).join('\n'), redis: await dumpRedis(redis, prefix) };
  assert.ok(haystacks.notifierLogs.includes('notice sent'), 'the scanned logs are the real ones');
  for (const a of expected.values()) {
    for (const form of leakForms(a)) {
      for (const [where, text] of Object.entries(haystacks)) {
        assert.ok(!text.includes(form), `${where} must not contain contact data of ${a.accountId}`);
      }
    }
  }
});
