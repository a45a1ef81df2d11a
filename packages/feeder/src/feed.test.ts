import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BreachwaveError, planActions, type ActionRules } from '@breachwave/domain';
import { QUEUES, QUEUE_FOR_ACTION, actionBatchJobId, actionJobId, parseActionJobs, type ActionBatch, type QueueName } from '@breachwave/jobs';
import type { ActionName } from '@breachwave/domain';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { acquireRedis, captureLog, waitFor, type TestRedis } from '@breachwave/testkit';
import { writeAccountsFile, type GenerateOptions } from '@breachwave/synth';
import { applyPlannedPace, createFeeder } from './feed.js';
import { createPacer } from '@breachwave/pacing';
import type { SpoolEntry } from './ingest.js';
import { createWave, type CreatedWave } from './wave.js';
import { dropPrefix, producerClient, randomPrefix, tempDir, testEnvelope } from './test-support.js';

const here = dirname(fileURLToPath(import.meta.url));
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

interface Setup {
  prefix: string;
  ledger: Ledger;
  wave: CreatedWave;
  spool: SpoolEntry[];
  queues: Map<QueueName, Queue>;
}

/** A fresh prefix, a synthetic wave created on it, and inspection queues; all cleaned up after. */
async function setup(t: TestContext, gen: Omit<GenerateOptions, 'format'>, rules: ActionRules = {}, pace?: Record<string, number>): Promise<Setup> {
  const prefix = randomPrefix();
  const dir = await tempDir(t);
  const ledger = createLedger({ redis, prefix });
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, gen);
  // One notice per account: these tests count one first-action job per account (consolidated groups share a job; see group.test.ts).
  const wave = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', rules, codeSource: { kind: 'generated' }, consolidate: false, dataDir: dir, envelope: testEnvelope(), log: captureLog().log, ...(pace ? { pace } : {}) });
  const spool = (await readFile(wave.spoolPath, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as SpoolEntry);
  assert.equal(spool.length, wave.stats.accepted);
  const queues = new Map<QueueName, Queue>(Object.values(QUEUES).map((q) => [q, new Queue(q, { connection: redis, prefix })]));
  t.after(async () => {
    await Promise.all([...queues.values()].map((q) => q.close()));
    await dropPrefix(redis, prefix);
  });
  return { prefix, ledger, wave, spool, queues };
}

/** Every job id in the given queues, in any state. */
async function allJobIds(queues: Map<QueueName, Queue>): Promise<Map<string, QueueName>> {
  const ids = new Map<string, QueueName>();
  for (const [name, q] of queues) {
    for (const job of await q.getJobs(['waiting', 'delayed', 'prioritized', 'paused', 'active', 'completed', 'failed'], 0, -1)) {
      assert.ok(job.id);
      assert.ok(!ids.has(job.id), `job ${job.id} exists once`);
      ids.set(job.id, name);
    }
  }
  return ids;
}

async function waiting(q: Queue | undefined): Promise<number> {
  assert.ok(q);
  const c = await q.getJobCounts('waiting', 'delayed', 'prioritized', 'paused');
  return (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0);
}

/** The feed's end state: one ledger entry and one first-action job per account, minus `skippedIds`. */
async function assertFullyFed(s: Setup, skippedIds: ReadonlySet<string> = new Set()): Promise<void> {
  const { waveId, stats } = s.wave;
  const manifest = (await s.ledger.getWave(waveId)).manifest;
  const ids = await allJobIds(s.queues);
  assert.equal(ids.size, stats.accepted - skippedIds.size, 'one job per account');
  for (const e of s.spool) {
    const first = planActions(e.record, manifest)[0] ?? 'notify';
    const id = actionJobId(first, { waveId, accountId: e.accountId });
    if (skippedIds.has(e.accountId)) assert.ok(!ids.has(id), `${id} not queued again`);
    else assert.equal(ids.get(id), QUEUE_FOR_ACTION[first], id);
  }
  assert.equal(await redis.hlen(s.ledger.keys.ledger(waveId)), stats.accepted, 'one ledger entry per account');
  assert.equal((await s.ledger.counts(waveId)).accounts, stats.accepted);
  const queued = (await redis.xrange(s.ledger.keys.audit, '-', '+'))
    .map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; wave?: string; detail?: { count: number; accounts: Record<string, string[]> } })
    .filter((r) => r.type === 'accounts.queued' && r.wave === waveId);
  const audited = queued.flatMap((r) => Object.values(r.detail?.accounts ?? {}).flat());
  assert.equal(audited.length, stats.accepted, 'every account is in an accounts.queued audit record');
  assert.equal(new Set(audited).size, stats.accepted, '... exactly once');
  assert.equal(queued.reduce((n, r) => n + (r.detail?.count ?? 0), 0), stats.accepted, 'the records count their accounts');
  const planOf = new Map(s.spool.map((e) => [e.accountId, planActions(e.record, manifest).join(',')]));
  for (const [plan, ids] of queued.flatMap((r) => Object.entries(r.detail?.accounts ?? {}))) {
    for (const id of ids) assert.equal(plan, planOf.get(id), `${id} under its plan`);
  }
  const info = await s.ledger.getWave(waveId);
  assert.equal(info.status, 'fed');
  assert.equal(info.stats.feed_checkpoint, stats.accepted);
  assert.equal(info.stats.fed, stats.accepted - skippedIds.size);
}

test('every accepted account gets exactly one job, in its first action\'s queue, carrying ids only', async (t) => {
  const rules: ActionRules = { 'rotate-pin': { segments: ['prepaid-active'] }, 'issue-code': { segments: ['former'] } };
  const s = await setup(t, { rows: 1200, seed: 31 }, rules);
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10_000, batch: 100, log: captureLog().log });
  t.after(() => feeder.close());
  const r = await feeder.feed(s.wave.waveId);
  assert.deepEqual(r, { fed: s.wave.stats.accepted, skipped: 0, complete: true });
  await assertFullyFed(s);
  for (const q of [QUEUES.rotatePin, QUEUES.issueCode, QUEUES.notify]) assert.ok((await waiting(s.queues.get(q))) > 0, q);
  const [job] = await (s.queues.get(QUEUES.notify) as Queue).getJobs(['waiting'], 0, 0);
  assert.ok(job);
  // Ids and the account's ordinal (an integer: its place in the spool), nothing else.
  assert.deepEqual(Object.keys(job.data as object).sort(), ['accountId', 'o', 'waveId']);
  assert.equal(job.opts.attempts, 8);

  // Feeding again adds nothing.
  assert.deepEqual(await feeder.feed(s.wave.waveId), { fed: 0, skipped: 0, complete: true });
  await assertFullyFed(s);
  await feeder.close();
  await feeder.close();
  await assert.rejects(feeder.feed(s.wave.waveId), /closed/);
});

test('the manifest\'s pace per sender is set where `pace set` writes it when the wave is first fed, audited, and never again (a live change wins)', async (t) => {
  const sender = 'twilio:+15005550006';
  const s = await setup(t, { rows: 20, seed: 7 }, {}, { [sender]: 3 });
  const pacer = createPacer({ redis, prefix: s.prefix, sender });
  t.after(() => pacer.close());
  assert.equal(await pacer.getRate(), undefined, 'nothing is set when the wave is created');
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10_000, batch: 100, log: captureLog().log });
  await feeder.feed(s.wave.waveId);
  assert.equal(await pacer.getRate(), 3);
  // An operator slows the sender mid-wave; a feed resumed later must not put the plan back.
  await pacer.setRate(1);
  await applyPlannedPace(redis, s.prefix, s.ledger, s.wave.waveId, s.wave.manifest, 'feeder', captureLog().log);
  assert.equal(await pacer.getRate(), 1);
  const records = (await redis.xrange(s.ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; wave?: string; detail?: Record<string, unknown> });
  assert.deepEqual(records.filter((r) => r.type === 'operator.pace.set').map((r) => [r.wave, r.detail]), [[s.wave.waveId, { sender, from: null, to: 3, source: 'manifest' }]]);
});

test('the window bounds the backlog: the feed waits while workers are away, stops on abort, resumes when they drain', async (t) => {
  const s = await setup(t, { rows: 300, seed: 32, malformedRate: 0, duplicateRate: 0 });
  assert.equal(s.wave.stats.accepted, 300);
  const cap = captureLog();
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 100, batch: 25, log: cap.log });
  t.after(() => feeder.close());
  const notify = s.queues.get(QUEUES.notify);

  const controller = new AbortController();
  let settled = false;
  const first = feeder.feed(s.wave.waveId, { signal: controller.signal }).finally(() => {
    settled = true;
  });
  await waitFor(() => cap.text().includes('feed window full'), { what: 'the feeder waiting for room' });
  assert.equal(await waiting(notify), 100);
  assert.equal((await s.ledger.getWave(s.wave.waveId)).stats.feed_checkpoint, 100);
  assert.equal((await s.ledger.getWave(s.wave.waveId)).status, 'feeding');
  assert.equal(settled, false, 'still waiting, not finished');
  controller.abort();
  assert.deepEqual(await first, { fed: 100, skipped: 0, complete: false });
  assert.equal(await waiting(notify), 100);

  // A trivial worker drains the queue; the feed resumes from its checkpoint and completes.
  const workerConnection = new Redis(server.url, { maxRetriesPerRequest: null });
  let completed = 0;
  let maxBacklog = 0;
  const worker = new Worker(QUEUES.notify, async () => {
    maxBacklog = Math.max(maxBacklog, await waiting(notify));
  }, { connection: workerConnection, prefix: s.prefix, concurrency: 5 });
  worker.on('completed', () => {
    completed++;
  });
  t.after(async () => {
    await worker.close();
    workerConnection.disconnect();
  });
  assert.deepEqual(await feeder.feed(s.wave.waveId), { fed: 200, skipped: 0, complete: true });
  await waitFor(() => completed === 300, { what: 'all 300 jobs completed', timeout: 20_000 });
  assert.ok(maxBacklog <= 100, `backlog stayed within the window (max ${maxBacklog})`);
  await assertFullyFed(s);
});

test('one feeder per wave: a second process is refused while the first holds the lease, and the lease ends with the run', async (t) => {
  const s = await setup(t, { rows: 120, seed: 36, malformedRate: 0, duplicateRate: 0 });
  const cap = captureLog();
  const first = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 40, batch: 20, log: cap.log });
  const second = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 40, batch: 20, log: captureLog().log });
  t.after(() => Promise.all([first.close(), second.close()]));
  const leaseKey = s.ledger.keys.feeder(s.wave.waveId);

  const controller = new AbortController();
  const running = first.feed(s.wave.waveId, { signal: controller.signal });
  await waitFor(() => cap.text().includes('feed window full'), { what: 'the first feeder waiting for room' });
  const holder = await redis.get(leaseKey);
  assert.ok(holder?.includes(`:${process.pid}#`), `the lease names its holder (${holder})`);
  await assert.rejects(second.feed(s.wave.waveId), (err: unknown) => {
    assert.ok(err instanceof BreachwaveError);
    assert.equal(err.code, 'BW_WAVE_BUSY');
    assert.ok(err.detail?.includes(holder ?? 'no holder'), err.detail);
    return true;
  });
  assert.equal(await waiting(s.queues.get(QUEUES.notify)), 40, 'the refused feeder added nothing');

  controller.abort();
  assert.deepEqual(await running, { fed: 40, skipped: 0, complete: false });
  assert.equal(await redis.exists(leaseKey), 0, 'released when the run ends');
  // Now the second may feed (the queue is still full, so it too waits; abort it at once).
  const again = new AbortController();
  again.abort();
  assert.deepEqual(await second.feed(s.wave.waveId, { signal: again.signal }), { fed: 0, skipped: 0, complete: false });
});

test('a feeder that lost its lease while waiting stops before writing another batch', { timeout: 30_000 }, async (t) => {
  const s = await setup(t, { rows: 120, seed: 37, malformedRate: 0, duplicateRate: 0 });
  const cap = captureLog();
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 40, batch: 20, log: cap.log });
  t.after(() => feeder.close());
  const leaseKey = s.ledger.keys.feeder(s.wave.waveId);
  const running = feeder.feed(s.wave.waveId);
  await waitFor(() => cap.text().includes('feed window full'), { what: 'the feeder waiting for room' });
  // What a stall past the TTL looks like: the lease expired and another process took it.
  await redis.set(leaseKey, 'elsewhere.example:4242#successor', 'PX', 60_000);
  const notify = s.queues.get(QUEUES.notify) as Queue;
  await notify.drain(); // room again: the feeder's next step would be a batch
  await assert.rejects(running, (err: unknown) => {
    assert.ok(err instanceof BreachwaveError);
    assert.equal(err.code, 'BW_WAVE_BUSY');
    assert.match(err.detail ?? '', /lost its lease to elsewhere\.example:4242#successor/);
    return true;
  });
  assert.equal(await checkpoint(s), 40, 'no batch written after the lease was lost');
  assert.equal(await redis.get(leaseKey), 'elsewhere.example:4242#successor', 'the successor\'s lease is left alone');
  await redis.del(leaseKey);
});

/** Runs the feed fixture in a child process. */
function spawnFeed(s: Setup, batch: number, stallAt?: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'feed-child.ts')], {
    cwd: dirname(here),
    env: {
      ...process.env, REDIS_URL: server.url, BW_TEST_PREFIX: s.prefix, BW_TEST_WAVE: s.wave.waveId, BW_TEST_BATCH: String(batch),
      ...(stallAt ? { BW_TEST_STALL_AT: String(stallAt) } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = once(child, 'exit');
  return { child, output: () => out, exited };
}

async function checkpoint(s: Setup): Promise<number> {
  return (await s.ledger.getWave(s.wave.waveId)).stats.feed_checkpoint ?? 0;
}

test('with accountsPerJob, every account is in exactly one multi-account job of its first action, and the window counts accounts', async (t) => {
  const rules: ActionRules = { 'rotate-pin': { segments: ['prepaid-active'] }, 'issue-code': { segments: ['former'] } };
  const s = await setup(t, { rows: 400, seed: 36 }, rules);
  const perJob = 7;
  const cap = captureLog();
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 70, batch: 50, accountsPerJob: perJob, log: cap.log });
  t.after(() => feeder.close());

  // The window is in accounts: 70 accounts are 10 jobs of 7; the feed waits there.
  const controller = new AbortController();
  const stopped = feeder.feed(s.wave.waveId, { signal: controller.signal });
  await waitFor(() => cap.text().includes('feed window full'), { what: 'the feeder waiting for room' });
  controller.abort();
  const part = await stopped;
  assert.equal(part.complete, false);
  for (const q of s.queues.values()) assert.ok((await waiting(q)) * perJob <= 70 + perJob, 'at most the window, counted in accounts');

  const big = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10_000, batch: 50, accountsPerJob: perJob, log: captureLog().log });
  t.after(() => big.close());
  const rest = await big.feed(s.wave.waveId);
  assert.equal(part.fed + rest.fed, s.wave.stats.accepted);

  const manifest = (await s.ledger.getWave(s.wave.waveId)).manifest;
  const where = new Map<string, QueueName>();
  let multi = 0;
  for (const [name, q] of s.queues) {
    for (const job of await q.getJobs(['waiting', 'delayed', 'prioritized', 'paused'], 0, -1)) {
      const refs = parseActionJobs(job.data);
      assert.ok(refs.length >= 1 && refs.length <= perJob, `job ${job.id} holds ${refs.length}`);
      if (refs.length > 1) {
        multi++;
        assert.deepEqual(Object.keys(job.data as object).sort(), ['accountIds', 'ordinals', 'waveId'], 'references only');
        assert.equal(job.id, actionBatchJobId(job.name as ActionName, job.data as ActionBatch));
      } else {
        assert.equal(job.id, actionJobId(job.name as ActionName, refs[0] ?? { waveId: '', accountId: '' }));
      }
      assert.equal(job.opts.attempts, 8);
      for (const ref of refs) {
        assert.equal(ref.waveId, s.wave.waveId);
        // Its ordinal is its place in the spool, across the feeder's restart from its checkpoint.
        assert.equal(ref.o, s.spool.findIndex((e) => e.accountId === ref.accountId), ref.accountId);
        assert.ok(!where.has(ref.accountId), `${ref.accountId} is in one job only`);
        where.set(ref.accountId, name);
      }
    }
  }
  assert.ok(multi > 0);
  assert.equal(where.size, s.wave.stats.accepted, 'every account queued');
  for (const e of s.spool) assert.equal(where.get(e.accountId), QUEUE_FOR_ACTION[planActions(e.record, manifest)[0] ?? 'notify'], e.accountId);
  assert.throws(() => createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10, batch: 5, accountsPerJob: 101, log: captureLog().log }), { code: 'BW_CONFIG_INVALID' });
});

test('with minJobs, a small wave is cut into smaller jobs so it makes that many, and the feed says which size it used', async (t) => {
  const s = await setup(t, { rows: 300, seed: 37 });
  const accepted = s.wave.stats.accepted ?? 0;
  const minJobs = 60;
  const size = Math.floor(accepted / minJobs);
  assert.ok(size >= 2 && size < 20, `a wave of ${accepted} needs jobs of ${size}`);
  const cap = captureLog();
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10_000, batch: 100, accountsPerJob: 20, minJobs, log: cap.log });
  t.after(() => feeder.close());
  const result = await feeder.feed(s.wave.waveId);
  assert.equal(result.fed, accepted);
  assert.match(cap.text(), new RegExp(`"accountsPerJob":${size}[,}]`));

  const queued = new Set<string>();
  let jobs = 0;
  for (const q of s.queues.values()) {
    for (const job of await q.getJobs(['waiting'], 0, -1)) {
      const refs = parseActionJobs(job.data);
      // A batch of the feed ends in a shorter job; none holds more than the wave's size.
      assert.ok(refs.length <= size, `job ${job.id} holds ${refs.length}, more than ${size}`);
      jobs++;
      for (const ref of refs) queued.add(ref.accountId);
    }
  }
  assert.equal(queued.size, accepted, 'every account queued once');
  assert.ok(jobs >= minJobs, `${jobs} jobs, at least ${minJobs}`);
  assert.throws(() => createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10, batch: 5, minJobs: 0, log: captureLog().log }), { code: 'BW_CONFIG_INVALID' });
});

test('crash-resume: a feeder SIGKILLed between ledger entries and jobs is resumed with nothing lost, doubled or re-run', async (t) => {
  const s = await setup(t, { rows: 1000, seed: 33 });
  const batch = 50;
  const proc = spawnFeed(s, batch, 4);
  t.after(() => {
    proc.child.kill('SIGKILL');
  });
  await waitFor(async () => (await checkpoint(s)) >= batch, { what: `checkpoint moved (${proc.output()})`, timeout: 20_000 });
  await waitFor(() => proc.output().includes('stalled'), { what: `child stalled in batch 4 (${proc.output()})`, timeout: 20_000 });
  proc.child.kill('SIGKILL');
  await proc.exited;

  // The crash point: 4 batches in the ledger, 3 checkpointed with their jobs.
  assert.equal(await checkpoint(s), 3 * batch);
  assert.equal(await redis.hlen(s.ledger.keys.ledger(s.wave.waveId)), 4 * batch);
  assert.equal((await allJobIds(s.queues)).size, 3 * batch);

  // Meanwhile a worker claimed one account of the replayed batch and finished another.
  const claimed = s.spool[3 * batch + 1]?.accountId ?? '';
  const done = s.spool[3 * batch + 2]?.accountId ?? '';
  for (const [accountId, to] of [[claimed, 'claimed'], [done, 'done']] as const) {
    const r = await s.ledger.transition({ waveId: s.wave.waveId, accountId, action: 'notify', from: '*', to, event: `notify.${to}`, actor: 'test' });
    assert.equal(r.outcome, 'ok');
  }
  // The finished account's contact record was released by its worker.
  await s.ledger.releaseAccount(s.wave.waveId, done);

  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10_000, batch, log: captureLog().log });
  t.after(() => feeder.close());
  const r = await feeder.feed(s.wave.waveId);
  assert.deepEqual(r, { fed: s.wave.stats.accepted - 3 * batch - 2, skipped: 2, complete: true });
  await assertFullyFed(s, new Set([claimed, done]));
  assert.equal(await s.ledger.getAccount(s.wave.waveId, done), undefined, 'a released record is not brought back');
  assert.ok(await s.ledger.getAccount(s.wave.waveId, s.spool.at(-1)?.accountId ?? ''));
});

test('crash-resume: a feeder SIGKILLed at an arbitrary point mid-feed is resumed to exactly one job per account', async (t) => {
  const s = await setup(t, { rows: 3000, seed: 34 });
  const batch = 10;
  const proc = spawnFeed(s, batch);
  t.after(() => {
    proc.child.kill('SIGKILL');
  });
  await waitFor(async () => (await checkpoint(s)) >= batch, { what: `checkpoint moved (${proc.output()})`, timeout: 20_000, interval: 5 });
  proc.child.kill('SIGKILL');
  await proc.exited;
  const at = await checkpoint(s);
  t.diagnostic(`killed at checkpoint ${at} of ${s.wave.stats.accepted}`);

  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10_000, batch: 100, log: captureLog().log });
  t.after(() => feeder.close());
  const r = await feeder.feed(s.wave.waveId);
  assert.equal(r.complete, true);
  assert.equal(r.skipped, 0);
  assert.ok(r.fed >= s.wave.stats.accepted - at, 'the rest, and any replayed batch, were queued');
  await assertFullyFed(s);
});

test('a cancelled or unknown wave is refused', async (t) => {
  const s = await setup(t, { rows: 20, seed: 35 });
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 10, batch: 5, log: captureLog().log });
  t.after(() => feeder.close());
  await assert.rejects(feeder.feed('w-nope'), { code: 'BW_WAVE_NOT_FOUND' });
  await s.ledger.setWaveStatus(s.wave.waveId, 'cancelled', 'test');
  await assert.rejects(feeder.feed(s.wave.waveId), { code: 'BW_WAVE_STATE' });
  assert.equal((await allJobIds(s.queues)).size, 0);
  assert.throws(() => createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 0, batch: 5, log: captureLog().log }), { code: 'BW_CONFIG_INVALID' });
});

test('a wave that needs approval is not fed before it is approved; a pause holds the feed, a resume lets it finish, a cancel ends it', async (t) => {
  const prefix = randomPrefix();
  const ledger = createLedger({ redis, prefix });
  t.after(() => dropPrefix(redis, prefix));
  const dir = await tempDir(t);
  const make = async (name: string) => {
    const file = join(dir, `${name}.csv`);
    await writeAccountsFile(file, { rows: 60, seed: 36 });
    return createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name), envelope: testEnvelope(), log: captureLog().log, approvals: 1, actor: 'operator:ana' });
  };
  const queues = new Map<QueueName, Queue>(Object.values(QUEUES).map((q) => [q, new Queue(q, { connection: redis, prefix })]));
  t.after(() => Promise.all([...queues.values()].map((q) => q.close())));
  const cap = captureLog();
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 1000, batch: 10, log: cap.log });
  t.after(() => feeder.close());

  const first = await make('first');
  const id = first.waveId;
  await assert.rejects(feeder.feed(id), { code: 'BW_WAVE_STATE' }, 'not approved yet');
  await ledger.control('dry-run', id, 'operator:ana', {}, first.stats.accepted);
  await ledger.control('approve', id, 'operator:bo');
  assert.equal((await ledger.getWave(id)).status, 'approved');

  // Paused before the feed: it holds at its first batch, having queued nothing.
  await ledger.control('pause', id, 'operator:bo', { reason: 'checking the template' });
  const feeding = feeder.feed(id);
  await waitFor(() => cap.text().includes('wave paused: the feed waits'), { what: 'the feed holds on the pause' });
  assert.equal((await allJobIds(queues)).size, 0, 'nothing queued while paused');
  await ledger.control('resume', id, 'operator:bo');
  assert.deepEqual(await feeding, { fed: first.stats.accepted, skipped: 0, complete: true });
  assert.equal((await allJobIds(queues)).size > 0, true);

  // Cancelled while held by a pause: the feed ends, the rest is never fed.
  const second = await make('second');
  await ledger.control('dry-run', second.waveId, 'operator:ana', {}, second.stats.accepted);
  await ledger.control('approve', second.waveId, 'operator:bo');
  await ledger.control('pause', second.waveId, 'operator:bo');
  const before = (await allJobIds(queues)).size;
  const held = feeder.feed(second.waveId);
  await waitFor(() => cap.lines().filter((l) => l.msg === 'wave paused: the feed waits for wave resume').length >= 2, { what: 'the second feed holds' });
  await ledger.control('cancel', second.waveId, 'operator:bo', { reason: 'wrong file' });
  assert.deepEqual(await held, { fed: 0, skipped: 0, complete: false, cancelled: true });
  assert.equal((await allJobIds(queues)).size, before, 'a cancelled wave queues nothing more');
  assert.equal((await ledger.getWave(second.waveId)).status, 'cancelled', 'the feed does not move a cancelled wave back to feeding or fed');
  await assert.rejects(ledger.control('resume', second.waveId, 'operator:bo'), { code: 'BW_WAVE_STATE' });
});

test('lanes: a small urgent wave is fed past a large wave\'s full window and its jobs are taken first; a reminder wave\'s jobs come after the others', async (t) => {
  const s = await setup(t, { rows: 300, seed: 37, malformedRate: 0, duplicateRate: 0 });
  const dir = await tempDir(t);
  const other = async (name: string, lane: 'urgent' | 'reminder') => {
    const file = join(dir, `${name}.csv`);
    await writeAccountsFile(file, { rows: 20, seed: lane === 'urgent' ? 38 : 39, malformedRate: 0, duplicateRate: 0 });
    return createWave({ ledger: s.ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name), envelope: testEnvelope(), log: captureLog().log, lane });
  };
  const cap = captureLog();
  const feeder = createFeeder({ ledger: s.ledger, connection: redis, prefix: s.prefix, window: 100, batch: 10, accountsPerJob: 5, log: cap.log });
  t.after(() => feeder.close());

  const reminder = await other('rem', 'reminder');
  assert.equal((await feeder.feed(reminder.waveId)).complete, true);
  // The large wave fills the window and waits for workers that are not there.
  const controller = new AbortController();
  const large = feeder.feed(s.wave.waveId, { signal: controller.signal });
  await waitFor(() => cap.text().includes('feed window full'), { what: 'the large wave waiting for room' });
  const urgent = await other('urg', 'urgent');
  assert.deepEqual(await feeder.feed(urgent.waveId), { fed: 20, skipped: 0, complete: true }, 'the urgent wave is not held by the large one\'s backlog');
  controller.abort();
  const largeFed = (await large).fed;

  const order: string[] = [];
  const workerConnection = new Redis(server.url, { maxRetriesPerRequest: null });
  const worker = new Worker(QUEUES.notify, async (job) => {
    order.push((job.data as { waveId: string }).waveId);
  }, { connection: workerConnection, prefix: s.prefix, concurrency: 1 });
  t.after(async () => {
    await worker.close();
    workerConnection.disconnect();
  });
  const jobs = 4 + largeFed / 5 + 4;
  await waitFor(() => order.length === jobs, { what: 'every job taken', timeout: 20_000 });
  const lane = (id: string) => (id === urgent.waveId ? 'urgent' : id === reminder.waveId ? 'reminder' : 'normal');
  const runs = order.map(lane).filter((l, i, all) => i === 0 || all[i - 1] !== l);
  assert.deepEqual(runs, ['urgent', 'normal', 'reminder'], `taken lane by lane: ${order.map(lane).join(' ')}`);
});
