import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { hasValidCheck, maskCode, type CodeSource } from '@breachwave/domain';
import { QUEUES } from '@breachwave/jobs';
import { createActionQueues, type ActionQueues } from '@breachwave/actions';
import { createLedger, type Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { acquireRedis, dumpRedis, waitFor, type TestRedis } from '@breachwave/testkit';
import {
  codeNoticeEnricher, createCodeIssuerWorker, createCodeStore, importPool, importRedemptions, reminderTargets,
  type CodeCrypto, type CodeIssuerWorker, type CodeStore,
} from './index.js';
import { dayFromNow, freshCodes, memoryLog, seedWave, testCrypto, testPrefix, writeLines } from './test-support.js';

let server: TestRedis;
const clients: Redis[] = [];
const closers: (() => Promise<void>)[] = [];
const client = (): Redis => {
  const c = new Redis(server.url);
  clients.push(c);
  return c;
};
before(async () => {
  server = await acquireRedis();
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await Promise.all(clients.map((c) => c.quit()));
  await server.stop();
});

interface Node {
  readonly worker: CodeIssuerWorker;
  readonly store: CodeStore;
  readonly ledger: Ledger;
  readonly queues: ActionQueues;
}

/** One code-issuer as a process would run it: its own Redis client, ledger, store, queues and worker. */
async function startIssuer(prefix: string, crypto: CodeCrypto, log: Logger, opts: { lowWatermark?: number; retryMs?: number; concurrency?: number } = {}): Promise<Node> {
  const redis = client();
  const ledger = createLedger({ redis, prefix });
  const store = createCodeStore({ redis, prefix, crypto, lowWatermark: opts.lowWatermark ?? 0 });
  const connection = { url: server.url, maxRetriesPerRequest: null };
  const queues = createActionQueues({ connection, prefix });
  const worker = createCodeIssuerWorker({ ledger, queues, store, log, connection, prefix, concurrency: opts.concurrency ?? 10, retryMs: opts.retryMs ?? 100 });
  await worker.start();
  closers.push(async () => {
    await worker.close();
    await queues.close();
  });
  return { worker, store, ledger, queues };
}

async function queueAll(queues: ActionQueues, waveId: string, accounts: readonly string[]): Promise<void> {
  for (const accountId of accounts) await queues.add('issue-code', { waveId, accountId });
}

const ids = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

test('several code-issuer workers over one pool: every assignment unique, every account exactly one code, duplicated jobs harmless', { timeout: 60_000 }, async () => {
  const prefix = testPrefix('iss');
  const crypto = testCrypto();
  const { log, text } = memoryLog();
  const nodes = await Promise.all(Array.from({ length: 4 }, () => startIssuer(prefix, crypto, log)));
  const [n0] = nodes as [Node];
  const codes = freshCodes(450);
  await importPool(n0.store, { file: writeLines(codes), pool: 'experian', enrollBy: dayFromNow(60) });
  const accounts = ids(400, 'acct');
  const waveId = await seedWave(n0.ledger, accounts, { kind: 'pool', pool: 'experian' });

  await queueAll(n0.queues, waveId, accounts);
  // Duplicates under other job ids, as a replayed feed or a manual re-drive would add them.
  const issueQueue = n0.queues.queueFor('issue-code');
  for (const accountId of accounts.slice(0, 100)) await issueQueue.add('issue-code', { waveId, accountId }, { jobId: `dup.${waveId}.${accountId}` });

  await waitFor(async () => (await n0.ledger.counts(waveId))['issue-code:done'] === accounts.length, { timeout: 30_000, what: 'every account issued' });
  await waitFor(async () => {
    const q = await issueQueue.getJobCounts('active', 'waiting', 'delayed');
    return (q.active ?? 0) + (q.waiting ?? 0) + (q.delayed ?? 0) === 0;
  }, { what: 'duplicates drained' });

  const hashes = new Set<string>();
  for (const accountId of accounts) {
    const entry = await n0.ledger.get(waveId, accountId);
    const revealed = await n0.store.reveal(accountId);
    assert.ok(revealed, `${accountId} holds a code`);
    assert.ok(codes.includes(revealed.code));
    assert.equal(entry?.['issue-code']?.s, 'done');
    assert.equal(entry?.['issue-code']?.cm, maskCode(revealed.code), 'the ledger keeps the masked code only');
    hashes.add(revealed.assignment.hash);
  }
  assert.equal(hashes.size, accounts.length, 'no code assigned twice');
  const counts = await n0.ledger.counts(waveId);
  assert.equal(counts['issue-code:code:issued'], accounts.length, 'one issue recorded per account, duplicates included');
  const s = (await n0.store.status()).pools[0];
  assert.deepEqual([s?.loaded, s?.assigned, s?.available], [450, 400, 50]);
  const notifyQueue = new Queue(QUEUES.notify, { connection: client(), prefix });
  assert.equal((await notifyQueue.getJobCounts('waiting')).waiting, accounts.length, 'each account\'s notice queued once');
  await notifyQueue.close();

  const haystack = text() + (await dumpRedis(n0.store.internals.redis, prefix));
  const someone = await n0.store.reveal(accounts[0] ?? '');
  assert.ok(someone && haystack.includes(maskCode(someone.code)), 'codes are mentioned, masked');
  for (const c of codes) assert.ok(!haystack.includes(c), `${maskCode(c)} in clear in logs or Redis`);
});

test('pool exhaustion: accounts wait without burning attempts or notices, then get codes after an import', { timeout: 60_000 }, async () => {
  const prefix = testPrefix('exh');
  const crypto = testCrypto();
  const { log, text } = memoryLog();
  const nodes = await Promise.all(Array.from({ length: 2 }, () => startIssuer(prefix, crypto, log, { lowWatermark: 10, retryMs: 150, concurrency: 5 })));
  const [n0] = nodes as [Node];
  const first = freshCodes(30);
  await importPool(n0.store, { file: writeLines(first), pool: 'kroll', enrollBy: dayFromNow(30) });
  const accounts = ids(60, 'x');
  const waveId = await seedWave(n0.ledger, accounts, { kind: 'pool', pool: 'kroll' });
  await queueAll(n0.queues, waveId, accounts);

  const notifyQueue = new Queue(QUEUES.notify, { connection: client(), prefix });
  await waitFor(async () => {
    const [c, st, q] = await Promise.all([n0.ledger.counts(waveId), n0.store.status(), notifyQueue.getJobCounts('waiting')]);
    return c['issue-code:done'] === 30 && (st.pools[0]?.waits ?? 0) >= 30 && q.waiting === 30;
  }, { timeout: 20_000, what: 'the pool ran dry, the rest waited, the issued accounts\' notices queued' });
  const counts = await n0.ledger.counts(waveId);
  // Waiting accounts are pending, or claimed for the instant between a claim and the empty answer.
  assert.equal((counts['issue-code:pending'] ?? 0) + (counts['issue-code:claimed'] ?? 0), 30, 'waiting accounts stay pending');
  assert.equal(counts['issue-code:failed'] ?? 0, 0);
  assert.equal(counts['notify:skipped'] ?? 0, 0, 'no notice is skipped for want of a code');
  assert.equal(counts['notify:pending'], 60, 'every notice still to come');
  const issueQueue = n0.queues.queueFor('issue-code');
  const parked = await issueQueue.getJobs(['delayed', 'wait', 'active', 'prioritized'], 0, -1);
  assert.equal(parked.length, 30, 'each waiting account keeps its one job');
  for (const j of parked) assert.equal(j.attemptsMade, 0, 'waiting does not use attempts');

  await importPool(n0.store, { file: writeLines(freshCodes(40)), pool: 'kroll', enrollBy: dayFromNow(30) });
  await waitFor(async () => (await n0.ledger.counts(waveId))['issue-code:done'] === 60 && (await notifyQueue.getJobCounts('waiting')).waiting === 60,
    { timeout: 20_000, what: 'everyone issued after the import, each notice queued' });
  const st = (await n0.store.status()).pools[0];
  assert.deepEqual([st?.loaded, st?.assigned, st?.available, st?.lowWatermarkEvents, st?.exhaustedEvents], [70, 60, 10, 1, 1]);

  const audit = (await n0.store.internals.redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string });
  assert.equal(audit.filter((a) => a.type === 'codes.pool.low').length, 1);
  assert.equal(audit.filter((a) => a.type === 'codes.pool.exhausted').length, 1);
  // After the first empty answer, jobs wait without claiming: the audit is not flooded per wait.
  assert.ok(audit.filter((a) => a.type === 'issue-code.retry').length <= 30, 'retry records bounded by the accounts, not the waits');
  assert.match(text(), /code pool exhausted/);
  assert.match(text(), /code pool below its low watermark/);
  await notifyQueue.close();
});

test('the enricher gives each notice its code and date; reminders list unredeemed codes near their deadline', { timeout: 60_000 }, async () => {
  const prefix = testPrefix('enr');
  const crypto = testCrypto();
  const { log } = memoryLog();
  const n = await startIssuer(prefix, crypto, log);
  const accounts = ids(20, 'g');
  const enrollBy = dayFromNow(10);
  const waveId = await seedWave(n.ledger, accounts, { kind: 'generated' }, enrollBy);
  await queueAll(n.queues, waveId, accounts);
  await waitFor(async () => (await n.ledger.counts(waveId))['issue-code:done'] === accounts.length, { what: 'generated codes issued' });

  const enricher = codeNoticeEnricher({ store: n.store });
  const issued: string[] = [];
  for (const accountId of accounts) {
    const entry = (await n.ledger.get(waveId, accountId)) ?? {};
    const vars = await enricher.enrich({ waveId, accountId, entry, account: {} as never, channel: 'sms' });
    assert.equal(vars.enrollBy, enrollBy);
    assert.ok(vars.enrollmentCode && hasValidCheck(vars.enrollmentCode));
    issued.push(vars.enrollmentCode);
  }
  assert.equal(new Set(issued).size, accounts.length);
  assert.deepEqual(await enricher.enrich({ waveId, accountId: 'none', entry: { notify: { s: 'claimed', n: 1 } }, account: {} as never, channel: 'sms' }), {});
  await assert.rejects(enricher.enrich({ waveId, accountId: 'nobody', entry: { 'issue-code': { s: 'done', n: 1 } }, account: {} as never, channel: 'sms' }),
    (e: Error & { code?: string }) => e.code === 'BW_CODE_NOT_ASSIGNED');

  await importRedemptions(n.store, { file: writeLines(issued.slice(0, 5)) });
  const all = [];
  for await (const t of reminderTargets(n.store, { days: 14 })) all.push(t);
  assert.equal(all.length, 15);
  assert.ok(all.every((t) => t.daysLeft === 10 && t.enrollBy === enrollBy && /^[0-9A-Z]{4}\*{4}[0-9A-Z]{2}$/.test(t.codeMasked)));
  const byWave = [];
  for await (const t of reminderTargets(n.store, { days: 14, waveId, ledger: n.ledger, count: 7 })) byWave.push(t.accountId);
  assert.deepEqual(byWave.sort(), all.map((t) => t.accountId).sort());
  const tooEarly = [];
  for await (const t of reminderTargets(n.store, { days: 5 })) tooEarly.push(t);
  assert.equal(tooEarly.length, 0);
});

test('a wave that turns issue-code on without a usable source fails the action and skips the notice', { timeout: 30_000 }, async () => {
  const prefix = testPrefix('bad');
  const { log } = memoryLog();
  const n = await startIssuer(prefix, testCrypto(), log);
  const waveId = await seedWave(n.ledger, ['a1'], { kind: 'pool', pool: 'no such pool!' } as CodeSource);
  await queueAll(n.queues, waveId, ['a1']);
  await waitFor(async () => (await n.ledger.get(waveId, 'a1'))?.notify?.s === 'skipped', { what: 'notice skipped' });
  assert.equal((await n.ledger.get(waveId, 'a1'))?.['issue-code']?.err, 'BW_CODE_SOURCE_INVALID');
});
