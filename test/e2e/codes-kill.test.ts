import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { codeCryptoFromConfig, createCodeStore, importPool } from '@breachwave/codes';
import { loadConfig } from '@breachwave/config';
import { DEFAULT_ACTION_RULES, generateCode, maskCode } from '@breachwave/domain';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, type LedgerEntry } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { waitFor } from '@breachwave/testkit';
import { serviceEnv, spawnFaulty, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();

test('SIGKILL of a code-issuer mid-allocation, then a restart: no account without a code, no code assigned twice, none lost', { timeout: 90_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('codes-kill');
  const prefix = `ckill${randomBytes(3).toString('hex')}`;
  const env = {
    ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }),
    BW_CODE_CONCURRENCY: '20',
    // A killed worker's jobs are re-run once their lock expires: keep that short for the test.
    BW_LOCK_DURATION_MS: '2000',
    BW_STALLED_INTERVAL_MS: '1000',
  };
  const config = loadConfig(env);
  const log = silentLogger();
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const store = createCodeStore({ redis, prefix, crypto: codeCryptoFromConfig(config) });

  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 800, seed: 5 });
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({
    consolidate: false,
    ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, envelope, log,
    rules: { 'issue-code': DEFAULT_ACTION_RULES['issue-code'] }, codeSource: { kind: 'pool', pool: 'kroll' },
  });
  const codesFile = join(dir, 'kroll.txt');
  const loaded = 700;
  writeFileSync(codesFile, Array.from({ length: loaded }, () => generateCode()).join('\n'));
  await importPool(store, { file: codesFile, pool: 'kroll', enrollBy: '2099-06-30' });
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 2000, batch: 200, accountsPerJob: 20, log });
  await feeder.feed(wave.waveId);
  await feeder.close();
  const eligible = (await ledger.counts(wave.waveId))['issue-code:pending'] ?? 0;
  assert.ok(eligible > 300 && eligible <= loaded, `eligible accounts: ${eligible}`);

  // The first issuer kills itself right after its 150th allocation is stored, before the ledger records it.
  const first = spawnFaulty('code-issuer', env, dir, 'first', ['--crash-at=after-allocation', '--crash-after=150']);
  await first.exited;
  assert.equal(first.child.signalCode, 'SIGKILL');

  const atKill = new Map<string, LedgerEntry>();
  for await (const [id, entry] of ledger.entries(wave.waveId)) atKill.set(id, entry);
  const heldAtKill = new Map<string, string>();
  for (const id of atKill.keys()) {
    const a = await store.assignment(id);
    if (a) heldAtKill.set(id, a.hash);
  }
  const unrecorded = [...heldAtKill.keys()].filter((id) => atKill.get(id)?.['issue-code']?.s !== 'done');
  assert.ok(heldAtKill.size >= 150 && heldAtKill.size < eligible, `the kill landed mid-wave (${heldAtKill.size} held)`);
  assert.ok(unrecorded.length >= 1, 'at least one code was allocated and not yet recorded in the ledger when the process died');

  const second = spawnService('code-issuer', env, dir, 'second');
  await waitForLog(second, 'code-issuer started');
  await waitFor(async () => (await ledger.counts(wave.waveId))['issue-code:done'] === eligible, { timeout: 45_000, what: 'every eligible account issued after the restart' });
  assert.equal(await second.kill('SIGTERM'), 0);

  const hashes = new Set<string>();
  let holders = 0;
  for await (const [id, entry] of ledger.entries(wave.waveId)) {
    const issue = entry['issue-code'];
    if (!issue) {
      assert.equal(await store.assignment(id), undefined, `${id} needs no code and has none`);
      continue;
    }
    assert.equal(issue.s, 'done', `${id} issued`);
    const revealed = await store.reveal(id);
    assert.ok(revealed, `${id} holds a code`);
    assert.equal(issue.cm, maskCode(revealed.code));
    if (heldAtKill.has(id)) assert.equal(revealed.assignment.hash, heldAtKill.get(id), `${id} kept the code it had when the issuer died`);
    hashes.add(revealed.assignment.hash);
    holders++;
  }
  assert.equal(holders, eligible);
  assert.equal(hashes.size, eligible, 'no code assigned twice');
  assert.equal(await redis.hlen(store.keys.assign), eligible, 'no stray assignment');
  const pool = (await store.status()).pools[0];
  assert.deepEqual([pool?.loaded, pool?.assigned, (pool?.assigned ?? 0) + (pool?.available ?? 0)], [loaded, eligible, loaded], 'no code lost between pool and person');
  const counts = await ledger.counts(wave.waveId);
  assert.equal(counts['issue-code:code:issued'], eligible, 'each issue recorded once');
  assert.equal(counts['notify:pending'], counts.accounts, 'every notice is queued, none skipped');
});
