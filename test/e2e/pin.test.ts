import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createActionQueues } from '@breachwave/actions';
import { startFakeBss, type FakeBss } from '@breachwave/adapter-bss/testing';
import { createAuditWriter, verifyAuditFiles } from '@breachwave/audit';
import { loadConfig } from '@breachwave/config';
import { DEFAULT_ACTION_RULES, parseAccountRow, planActions } from '@breachwave/domain';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { createPinVerificationHandler, createPinVerificationService, createVaultPinStore } from '@breachwave/pin';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor } from '@breachwave/testkit';
import { dumpRedis, readDir, serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';
import { TEMP_PIN, assertNoPinLeaks, phoneFor, pinEnv, pinParts, startPinNotifier, writeAccounts, type Row } from './pin-support.js';

const world = useWorld();

let bss: FakeBss;
const BSS_TOKEN = randomBytes(16).toString('hex');

before(async () => {
  bss = await startFakeBss({ token: BSS_TOKEN, unknownAccounts: ['U-01'] });
});
after(async () => {
  await bss.close();
});

/** A mixed list: who gets a rotation is decided by segment AND exposed data. */
function mixedRows(): Row[] {
  const rows: Row[] = [];
  let i = 0;
  const add = (prefix: string, n: number, r: Omit<Row, 'account_id' | 'phone' | 'email'> & { phone?: boolean; email?: boolean }) => {
    for (let k = 1; k <= n; k++) {
      const id = `${prefix}-${String(k).padStart(2, '0')}`;
      i++;
      rows.push({ account_id: id, segment: r.segment, exposed: r.exposed, ...(r.phone ? { phone: phoneFor(i) } : {}), ...(r.email ? { email: `${id.toLowerCase()}@example.com` } : {}) });
    }
  };
  add('P', 12, { segment: 'prepaid-active', exposed: 'name;phone;pin', phone: true, email: true }); // rotate, temporary PIN by SMS
  add('Q', 4, { segment: 'prepaid-active', exposed: 'name;pin', email: true }); // rotate, email: reset wording
  add('R', 3, { segment: 'prepaid-active', exposed: 'name;phone', phone: true, email: true }); // PIN not exposed
  add('S', 5, { segment: 'postpaid-current', exposed: 'name;dob;ssn', phone: true, email: true });
  add('F', 3, { segment: 'former', exposed: 'name;pin', phone: true }); // PIN exposed, but not prepaid-active
  add('U', 1, { segment: 'prepaid-active', exposed: 'name;phone;pin', phone: true }); // the BSS does not know it
  return rows;
}

test('a wave over a mixed list rotates exactly the accounts that need it, each notice after its rotation, no PIN anywhere', { timeout: 90_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('pin');
  const prefix = `pin${randomBytes(3).toString('hex')}`;
  const env = {
    ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }),
    ...pinEnv({ BW_PIN_STORE: 'bss', BW_BSS_URL: bss.url, BW_BSS_TOKEN: BSS_TOKEN, BW_BSS_TIMEOUT_MS: '800', BW_PIN_CONCURRENCY: '8' }),
  };
  const config = loadConfig(env);
  const logFile = join(dir, 'test-process.log');
  const { pino } = await import('pino');
  const log = createLogger({ name: 'e2e-pin', destination: pino.destination({ dest: logFile, sync: true }) });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));

  const rows = mixedRows();
  const file = join(dir, 'accounts.csv');
  writeAccounts(file, rows);
  const rules = { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'] };
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, rules, pinDelivery: 'sms-temporary', dataDir: dir, envelope, log });
  assert.equal(wave.stats.accepted, rows.length);
  const accounts = new Map(rows.map((r) => {
    const parsed = parseAccountRow(r as unknown as Record<string, string>);
    assert.ok(parsed.ok);
    return [r.account_id, parsed.account] as const;
  }));
  const needRotation = new Set([...accounts].filter(([, a]) => planActions(a, { rules }).includes('rotate-pin')).map(([id]) => id));
  assert.deepEqual([...needRotation].map((id) => id[0]).sort().join(''), 'PPPPPPPPPPPPQQQQU', 'the rules pick prepaid-active accounts whose PIN was exposed');

  // The BSS misbehaves: a 5xx, a reset after it applied (the retry is a duplicate request), a hang.
  bss.fault({ kind: 'status', status: 503 }, { accountId: 'P-02' });
  bss.fault({ kind: 'reset-after-apply' }, { accountId: 'P-03' });
  bss.fault({ kind: 'hang' }, { accountId: 'P-04' });

  const auditDir = join(dir, 'audit');
  const auditRedis = new Redis(server.url, { maxRetriesPerRequest: null });
  const writer = createAuditWriter({ redis: auditRedis, prefix, dir: auditDir, log });
  await writer.start();
  // At debug, the most the rotator ever logs (every rotation) is what the no-PIN scan below reads.
  const rotator = spawnService('pin-rotator', { ...env, LOG_LEVEL: 'debug' }, dir);
  await waitForLog(rotator, 'pin-rotator started');
  const notifier = await startPinNotifier(config, redis, log);
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 100, batch: 10, accountsPerJob: 10, log });
  assert.equal((await feeder.feed(wave.waveId)).fed, rows.length);
  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 60_000, what: 'wave complete' });
  assert.equal(await rotator.kill('SIGTERM'), 0, 'the rotator drains and exits cleanly');
  await notifier.close();
  await feeder.close();

  // Exactly the accounts that need it were rotated, once each, at the BSS (system of record).
  const rotated = new Set(bss.accounts());
  assert.deepEqual([...rotated].sort(), [...needRotation].filter((id) => id !== 'U-01').sort());
  for (const id of rotated) assert.equal(bss.appliedCount(id), 1, `${id}: one applied rotation`);
  const replays = bss.requests.filter((r) => r.replayed);
  assert.ok(replays.some((r) => r.accountId === 'P-03'), 'the duplicate request after the reset was answered as a replay');
  assert.ok(bss.requests.some((r) => r.accountId === 'P-02' && r.status === 503));

  // Ledger: rotations done with delivery decided per account; the BSS-unknown account is dead-lettered.
  const { keyring } = pinParts(config, redis);
  const vault = createVaultPinStore({ redis, prefix, keyring });
  for (const [id] of accounts) {
    const entry = await ledger.get(wave.waveId, id);
    if (!needRotation.has(id)) {
      assert.equal(entry?.['rotate-pin'], undefined, `${id} has no rotation`);
      assert.equal(entry?.notify?.s, 'done');
    } else if (id === 'U-01') {
      assert.equal(entry?.['rotate-pin']?.s, 'failed');
      assert.equal(entry?.['rotate-pin']?.err, 'BW_PIN_STORE_ACCOUNT_UNKNOWN');
      assert.equal(entry?.notify?.s, 'skipped', 'no "your PIN was reset" notice');
    } else {
      assert.equal(entry?.['rotate-pin']?.s, 'done');
      assert.equal(entry?.['rotate-pin']?.dl, id.startsWith('P') ? 'sms-temporary' : 'none');
      assert.equal(entry?.notify?.s, 'done');
      assert.equal((await vault.read(id))?.verifier, keyring.compute(id, bss.pinOf(id) ?? ''), `${id}: the vault mirrors the BSS PIN`);
    }
  }
  const queues = createActionQueues({ connection: { url: server.url, maxRetriesPerRequest: null }, prefix });
  const dead = await queues.queueFor('rotate-pin').getJob(`rotate-pin.${wave.waveId}.U-01`);
  assert.equal(await dead?.getState(), 'failed', 'operators see the dead letter');
  assert.match(dead?.failedReason ?? '', /BW_PIN_STORE_ACCOUNT_UNKNOWN/);
  await queues.close();
  const counts = await ledger.counts(wave.waveId);
  assert.equal(counts['rotate-pin:failed'], 1);
  assert.equal(counts['rotate-pin:error:BW_PIN_STORE_ACCOUNT_UNKNOWN'], 1);

  // Notices: a temporary PIN only by SMS to the account's own number, and it is the stored PIN.
  const delivered = new Map<string, string>();
  for (const [id, a] of accounts) {
    const texts = twilio.messages.filter((m) => m.to === a.phone).map((m) => m.body);
    const mails = smtp.messages.filter((m) => m.envelope.to.includes(a.email ?? '-')).map((m) => m.text ?? '');
    if (id === 'U-01') {
      assert.equal(texts.length + mails.length, 0, 'the dead-lettered account got nothing');
      continue;
    }
    assert.equal(texts.length + mails.length, 1, `${id}: one notice`);
    const body = texts[0] ?? mails[0] ?? '';
    const pin = TEMP_PIN.exec(body)?.[1];
    if (id.startsWith('P')) {
      assert.equal(texts.length, 1);
      assert.ok(pin, `${id}: the SMS carries a temporary PIN`);
      assert.equal(pin, bss.pinOf(id), `${id}: the PIN delivered is the PIN stored`);
      delivered.set(id, pin);
    } else {
      assert.equal(pin, undefined, `${id}: no PIN in this notice`);
      assert.equal(/we reset your PIN/.test(body), id.startsWith('Q'), `${id}: the reset wording only after a rotation`);
      // F accounts: the PIN leaked but was not rotated: the notice names it and promises nothing.
      assert.equal(/account PIN/.test(body), id.startsWith('Q') || id.startsWith('F'), `${id}: the PIN is named iff it was exposed`);
    }
  }
  assert.equal(delivered.size, 12);
  assert.deepEqual(await redis.keys(`${prefix}:pin:held:*`), [], 'held PINs are wiped once their notice is recorded');

  // Care / IVR verification against the stored verifier, through the HTTP handler.
  const verifier = createPinVerificationService({ redis, prefix, keyring, maxFailures: config.pin.maxFailures, audit: (r) => ledger.audit(r) });
  const handler = createPinVerificationHandler({ service: verifier, token: config.pin.verifyToken, log });
  const api = http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const verify = async (accountId: string, pin: string) => {
    const res = await fetch(`http://127.0.0.1:${(api.address() as AddressInfo).port}/v1/pins/verify`, {
      method: 'POST', headers: { authorization: `Bearer ${config.pin.verifyToken ?? ''}`, 'content-type': 'application/json' },
      body: JSON.stringify({ waveId: wave.waveId, accountId, pin }),
    });
    return { status: res.status, body: (await res.json()) as { verified: boolean } };
  };
  const p1 = delivered.get('P-01') ?? '';
  assert.deepEqual(await verify('P-01', p1), { status: 200, body: { verified: true } });
  assert.equal((await verify('P-01', delivered.get('P-05') === p1 ? '000000' : delivered.get('P-05') ?? '')).body.verified, false);
  await new Promise<void>((r) => api.close(() => r()));

  // Audit: drained and chained; every rotated account's notice follows its rotation.
  await waitFor(async () => {
    await writer.drainOnce();
    return (await redis.xlen(`${prefix}:audit`)) === 0;
  }, { timeout: 20_000, what: 'audit stream drained' });
  await writer.close();
  await auditRedis.quit();
  const auditFiles = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).map((f) => join(auditDir, f));
  assert.ok((await verifyAuditFiles(auditFiles)).ok);
  const records = auditFiles.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as { type: string; account?: string; ts: string; seq: number });
  for (const id of rotated) {
    const mine = records.filter((r) => r.account === id);
    const rotatedAt = mine.find((r) => r.type === 'rotate-pin.done');
    const claimedAt = mine.find((r) => r.type === 'notify.claimed');
    const sentAt = mine.find((r) => r.type === 'notify.done');
    assert.ok(rotatedAt && claimedAt && sentAt, `${id}: rotation and notice are audited`);
    assert.ok(rotatedAt.seq < claimedAt.seq && Date.parse(rotatedAt.ts) <= Date.parse(claimedAt.ts), `${id}: the notice follows its rotation`);
    assert.equal(mine.filter((r) => r.type === 'rotate-pin.done').length, 1);
  }
  assert.ok(records.some((r) => r.type === 'pin.verify'), 'verifications are audited');
  assert.ok(records.some((r) => r.type === 'rotate-pin.failed' && r.account === 'U-01'));

  // No PIN — delivered or not — in Redis, logs, audit or spool.
  log.flush();
  const pins = [...rotated].map((id) => bss.pinOf(id) ?? '');
  assertNoPinLeaks(pins, {
    redis: await dumpRedis(redis, prefix),
    rotatorLog: readFileSync(rotator.logFile, 'utf8'),
    notifierAndTestLog: readFileSync(logFile, 'utf8'),
    audit: auditFiles.map((f) => readFileSync(f, 'utf8')).join('\n'),
    spool: readDir(join(dir, 'waves', wave.waveId)),
  });
  assert.match(readFileSync(rotator.logFile, 'utf8'), /PIN rotation applied/, 'the scanned rotator log is the real one');
});
