import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createAuditWriter, verifyAuditFiles } from '@breachwave/audit';
import { codeCryptoFromConfig, codeNoticeEnricher, createCodeStore, type CodeStatus, type PoolImportReport } from '@breachwave/codes';
import { loadConfig } from '@breachwave/config';
import {
  DEFAULT_ACTION_RULES, chooseChannel, firstNameOf, generateCode, maskCode, planActions, renderNotice, type AffectedAccount, type WaveManifest,
} from '@breachwave/domain';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { runNotifier } from '@breachwave/notifier-service';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { entryArgs, waitFor } from '@breachwave/testkit';
import { ROOT, dumpRedis, expectedAccounts, readDir, serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();

/**
 * Runs `breachwave codes …` as an operator does: the CLI's entry point in its own process (compiled
 * for the run by the test runner, else through tsx). Asynchronously: this test process runs the
 * notifier and the audit writer meanwhile, and a child waited for synchronously would stall them
 * (the writer's lease, renewed every 5 s, lapses after 15 s on a loaded machine).
 */
async function codesCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...entryArgs(join(ROOT, 'services', 'cli', 'src', 'main.ts')), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** The notice an account must receive, with its enrollment code when it has one. */
function expectedNotice(a: AffectedAccount, manifest: WaveManifest, code?: { code: string; enrollBy: string }): { channel: 'sms' | 'email'; to: string; content: string } {
  const channel = chooseChannel(a);
  if (!channel) throw new Error(`account ${a.accountId} has no channel`);
  const n = renderNotice(channel, a.locale, {
    brand: manifest.brand, helpUrl: manifest.helpUrl, exposed: a.exposed,
    ...(a.name ? { firstName: firstNameOf(a.name) } : {}),
    ...(code ? { enrollmentCode: code.code, enrollBy: code.enrollBy } : {}),
  });
  if (n.channel === 'sms') return { channel, to: a.phone ?? '', content: n.body };
  return { channel, to: a.email ?? '', content: `${n.subject}\n${n.text}` };
}

test('a wave with enrollment codes: every eligible notice carries its own code, an empty pool waits for an import, and no code is in clear anywhere but the sinks', { timeout: 120_000 }, async (t) => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('codes');
  const prefix = `codes${randomBytes(3).toString('hex')}`;
  const env = {
    ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }),
    BW_CODE_KEY: randomBytes(32).toString('base64'),
    BW_CODE_LOW_WATERMARK: '20',
    BW_CODE_RETRY_MS: '200',
    BW_CODE_CONCURRENCY: '10',
  };
  const config = loadConfig(env);
  const logFile = join(dir, 'test-process.log');
  const { pino } = await import('pino');
  const log = createLogger({ name: 'e2e-codes', destination: pino.destination({ dest: logFile, sync: true }) });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const store = createCodeStore({ redis, prefix, crypto: codeCryptoFromConfig(config), lowWatermark: config.codes.lowWatermark });

  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 300, seed: 44 });
  const expected = expectedAccounts(readFileSync(file, 'utf8'));
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({
    consolidate: false,
    ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, envelope, log,
    rules: { 'issue-code': DEFAULT_ACTION_RULES['issue-code'] }, codeSource: { kind: 'pool', pool: 'experian' },
  });
  const manifest = wave.manifest;
  const eligible = [...expected.values()].filter((a) => planActions(a, manifest).includes('issue-code'));
  assert.ok(eligible.length > 100 && eligible.length < expected.size, `SSN/licence accounts are a part of the wave (${eligible.length}/${expected.size})`);

  // The vendor's first file covers half the accounts, with a bad line, a blank one and a repeat.
  const firstBatch = Math.floor(eligible.length / 2);
  const vendorCodes = Array.from({ length: eligible.length + 10 }, () => generateCode());
  const first = vendorCodes.slice(0, firstBatch);
  const firstFile = join(dir, 'experian-1.txt');
  writeFileSync(firstFile, ['code', ...first.slice(0, 3), '', `${(first[0] ?? '').slice(0, -1)}#`, first[1], ...first.slice(3)].join('\n') + '\n');
  const imported = await codesCli(['codes', 'import', '--file', firstFile, '--pool', 'experian', '--enroll-by', '2099-12-31', '--json'], env);
  assert.equal(imported.code, 0, imported.stderr);
  const report = JSON.parse(imported.stdout) as PoolImportReport;
  assert.equal(report.loaded, firstBatch, JSON.stringify({ ...report, firstBatch }));
  assert.deepEqual(report.rejects, [{ line: 6, reason: 'character outside the Crockford base32 alphabet' }, { line: 7, reason: 'duplicate of line 3' }]);

  const auditDir = join(dir, 'audit');
  const auditRedis = new Redis(server.url, { maxRetriesPerRequest: null });
  const writer = createAuditWriter({ redis: auditRedis, prefix, dir: auditDir, log });
  const issuers = [spawnService('code-issuer', env, dir), spawnService('code-issuer', env, dir)];
  // Whatever an assertion interrupts is stopped all the same (each step a no-op once done below):
  // a running notifier, writer or connection would keep this file's process alive after a failure.
  t.after(async () => {
    await Promise.all(issuers.map((p) => p.kill('SIGKILL')));
    await writer.close();
    auditRedis.disconnect();
  });
  await writer.start();
  await Promise.all(issuers.map((p) => waitForLog(p, 'code-issuer started')));
  const notifier = await runNotifier(config, log, { enrichers: [codeNoticeEnricher({ store })] });
  t.after(() => notifier.close());
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 500, batch: 100, accountsPerJob: 10, log });
  await feeder.feed(wave.waveId);
  await feeder.close();

  // The pool runs dry: the rest of the accounts wait, and their notices wait with them.
  await waitFor(async () => {
    const [c, s] = await Promise.all([ledger.counts(wave.waveId), store.status()]);
    return c['issue-code:done'] === firstBatch && (s.pools[0]?.waits ?? 0) > 0;
  }, { timeout: 30_000, what: 'the first batch issued and the pool exhausted' });
  const waiting = await ledger.counts(wave.waveId);
  // Waiting accounts are pending, or claimed for the instant between a claim and the empty answer.
  assert.equal((waiting['issue-code:pending'] ?? 0) + (waiting['issue-code:claimed'] ?? 0), eligible.length - firstBatch);
  assert.equal(waiting['issue-code:failed'] ?? 0, 0);
  assert.equal(waiting['notify:skipped'] ?? 0, 0);

  const secondFile = join(dir, 'experian-2.txt');
  writeFileSync(secondFile, vendorCodes.slice(firstBatch).join('\n'));
  const refill = await codesCli(['codes', 'import', '--file', secondFile, '--pool', 'experian', '--enroll-by', '2099-12-31'], env);
  assert.equal(refill.code, 0, refill.stderr);
  assert.match(refill.stdout, new RegExp(`pool experian: ${vendorCodes.length - firstBatch} loaded, 0 already loaded, 0 rejected`));

  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 60_000, what: 'wave complete' });
  await Promise.all(issuers.map((p) => p.kill('SIGTERM')));
  for (const p of issuers) assert.equal(p.child.exitCode, 0, `code-issuer exits cleanly on SIGTERM (${p.logFile})`);
  await notifier.close();

  const statusOut = await codesCli(['codes', 'status', '--json'], env);
  assert.equal(statusOut.code, 0, statusOut.stderr);
  const status = JSON.parse(statusOut.stdout) as CodeStatus;
  const pool = status.pools.find((p) => p.pool === 'experian');
  assert.deepEqual([pool?.loaded, pool?.assigned, pool?.available, pool?.expired], [vendorCodes.length, eligible.length, 10, 0]);
  assert.ok((pool?.lowWatermarkEvents ?? 0) >= 1 && (pool?.exhaustedEvents ?? 0) >= 1);
  const human = await codesCli(['codes', 'status'], env);
  assert.match(human.stdout, /experian\s+\d+/);

  // Sinks: every account got exactly its notice, eligible ones with their own code and date.
  const codeOf = new Map<string, string>();
  const want = new Map<string, number>();
  for (const a of expected.values()) {
    const revealed = await store.reveal(a.accountId);
    const isEligible = planActions(a, manifest).includes('issue-code');
    assert.equal(Boolean(revealed), isEligible, `${a.accountId}: a code exactly when its exposed data calls for one`);
    if (revealed) {
      codeOf.set(a.accountId, revealed.code);
      assert.equal(revealed.assignment.enrollBy, '2099-12-31');
    }
    const n = expectedNotice(a, manifest, revealed ? { code: revealed.code, enrollBy: revealed.assignment.enrollBy } : undefined);
    const key = `${n.channel}|${n.to}|${n.content}`;
    want.set(key, (want.get(key) ?? 0) + 1);
  }
  assert.equal(new Set(codeOf.values()).size, eligible.length, 'no code went to two accounts');
  for (const c of codeOf.values()) assert.ok(vendorCodes.includes(c), 'codes come from the vendor pool');
  const got = new Map<string, number>();
  for (const m of twilio.messages) got.set(`sms|${m.to}|${m.body}`, (got.get(`sms|${m.to}|${m.body}`) ?? 0) + 1);
  for (const m of smtp.messages) {
    const k = `email|${m.envelope.to.join(',')}|${m.subject ?? ''}\n${(m.text ?? '').trimEnd()}`;
    got.set(k, (got.get(k) ?? 0) + 1);
  }
  const missing = [...want].filter(([k, n]) => got.get(k) !== n).slice(0, 3);
  assert.deepEqual(missing, [], 'each account got exactly its notice, with its code');
  assert.equal(twilio.messages.length + smtp.messages.length, expected.size);
  const sinkText = twilio.messages.map((m) => m.body).join('\n') + smtp.messages.map((m) => `${m.text ?? ''}${m.html ?? ''}`).join('\n');
  for (const c of codeOf.values()) assert.ok(sinkText.includes(c), 'the code reached its notice');

  // Audit: drained, chain verifies; issues recorded with the masked code only.
  await waitFor(async () => {
    await writer.drainOnce();
    return (await redis.xlen(`${prefix}:audit`)) === 0;
  }, { timeout: 30_000, what: 'audit stream drained' });
  await writer.close();
  await auditRedis.quit();
  const auditFiles = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).map((f) => join(auditDir, f));
  assert.ok((await verifyAuditFiles(auditFiles)).ok);
  const auditText = auditFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
  const records = auditText.trim().split('\n').map((l) => JSON.parse(l) as { type: string; account?: string; detail?: { codeMasked?: string } });
  const issued = records.filter((r) => r.type === 'issue-code.done');
  assert.equal(issued.length, eligible.length);
  for (const r of issued) assert.equal(r.detail?.codeMasked, maskCode(codeOf.get(r.account ?? '') ?? ''));
  for (const type of ['codes.imported', 'codes.pool.low', 'codes.pool.exhausted']) assert.ok(records.some((r) => r.type === type), `audit has ${type}`);

  // Nowhere else in clear: Redis, every log, the audit, the spool, the CLI's output.
  log.flush();
  const haystacks = {
    redis: await dumpRedis(redis, prefix),
    testAndNotifierLog: readFileSync(logFile, 'utf8'),
    issuerLogs: issuers.map((p) => readFileSync(p.logFile, 'utf8')).join('\n'),
    audit: auditText,
    spool: readDir(join(dir, 'waves', wave.waveId)),
    cli: [imported, refill, statusOut, human].map((r) => r.stdout + r.stderr).join('\n'),
  };
  assert.match(haystacks.issuerLogs, /code pool exhausted|code pool below its low watermark|code-issuer started/);
  for (const c of vendorCodes) {
    for (const [where, text] of Object.entries(haystacks)) assert.ok(!text.includes(c), `${where} holds ${maskCode(c)} in clear`);
  }
});
