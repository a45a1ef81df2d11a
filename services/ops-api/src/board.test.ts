import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { createActionQueues, type ActionQueues } from '@breachwave/actions';
import { createApiTokenStore, type ApiRole } from '@breachwave/access';
import { loadConfig, type BreachwaveConfig } from '@breachwave/config';
import { ACTIONS, type ActionName } from '@breachwave/domain';
import type { DeadLetterGroup } from '@breachwave/dlq';
import { createLedger, keys as ledgerKeys, type Ledger } from '@breachwave/ledger';
import { checkShards } from '@breachwave/redis';
import { acquireRedis, captureLog, type TestRedis } from '@breachwave/testkit';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWave } from '@breachwave/feeder';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { BOARD_MANAGE_PATH, BOARD_VIEW_PATH, MASK, boardQueueKey, maskValue } from './board.js';
import { PAGE_CSP, createConsoleRoutes } from './console.js';
import { runOpsApi, type RunningOpsApi } from './run.js';

let server: TestRedis;
let redis: Redis;
let config: BreachwaveConfig;
let ledger: Ledger;
let api: RunningOpsApi;
let prefix: string;
const queues = {} as Record<ActionName, Queue>;
const logs = captureLog('ops-board-test');
const tokens: Record<string, string> = {};
const retried: unknown[] = [];
const boardChanges: unknown[] = [];
let WAVE = '';
let dir = '';
const GROUP: DeadLetterGroup = { action: 'notify', reason: 'BW_SMS_UNDELIVERABLE', count: 2, waves: [] };

before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
  prefix = `opb${randomBytes(3).toString('hex')}`;
  config = loadConfig({
    REDIS_URL: server.url, BW_PREFIX: prefix, BW_ENVELOPE_KEY: randomBytes(32).toString('base64'),
    BW_HMAC_KEY: randomBytes(32).toString('base64'), BW_OPS_PORT: '0', BW_STUCK_AFTER_SECONDS: '60',
  });
  ledger = createLedger({ redis, prefix });
  const store = createApiTokenStore({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') });
  const roles: Record<string, ApiRole> = { vi: 'viewer', ana: 'operator', gone: 'viewer' };
  for (const [name, role] of Object.entries(roles)) tokens[name] = (await store.create({ name, role, createdBy: 'cli:test' })).token;
  for (const a of ACTIONS) queues[a] = new Queue(`bw-${a}`, { connection: { url: server.url }, prefix });
  // A wave the overview lists, with a failed notice counted so its dead letters are read.
  dir = await mkdtemp(join(tmpdir(), 'bw-ops-board-'));
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 3, seed: 3, malformedRate: 0, duplicateRate: 0 });
  WAVE = (await createWave({
    ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, 'wave'),
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))), log: silentLogger(), approvals: 1, actor: 'operator:ana',
  })).waveId;
  await redis.hset(ledgerKeys(prefix).counts(WAVE), 'notify:failed', 2);
  const routes = createConsoleRoutes({
    ledger, redis, prefix, queues: Object.fromEntries(ACTIONS.map((a) => [a, [queues[a]]])) as Record<ActionName, Queue[]>, stuckAfterSeconds: 60,
    deadLetters: { list: async () => [GROUP], retry: async (sel, actor) => { retried.push({ ...sel, actor }); return { retried: 2, expired: 0 }; } },
  });
  api = await runOpsApi(config, logs.log, { routes, port: 0, board: { queues: ACTIONS.map((a) => ({ queue: queues[a], shard: 0, shards: 1 })), audit: async (c) => { boardChanges.push(c); } } });
});

after(async () => {
  await api.close();
  for (const q of Object.values(queues)) await q.close();
  await redis.quit();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Logs in with a token the way the form does; returns the cookie header value. */
async function login(who: string): Promise<string> {
  const res = await fetch(`${api.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens[who] ?? who, next: '/waves' }) });
  assert.equal(res.status, 303);
  const set = res.headers.get('set-cookie') ?? '';
  assert.match(set, /^bw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
  assert.ok(!set.includes(tokens[who] ?? '\0'), 'the cookie never carries the token');
  return set.split(';')[0] ?? '';
}

const get = (path: string, cookie?: string) => fetch(`${api.url}${path}`, { redirect: 'manual', headers: cookie ? { Cookie: cookie } : {} });
const put = (path: string, cookie: string) => fetch(`${api.url}${path}`, { method: 'PUT', headers: { Cookie: cookie } });
const postForm = (path: string, cookie: string, fields: Record<string, string>) =>
  fetch(`${api.url}${path}`, { method: 'POST', redirect: 'manual', headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });

/** Adds a job and has a real worker fail it for good, as a processor's permanent failure does. */
async function failedJob(queue: Queue, jobId: string): Promise<void> {
  await queue.add('planted', { waveId: 'w-planted', accountId: 'ACCT-00000009' }, { jobId });
  const worker = new Worker(queue.name, async () => {
    throw new UnrecoverableError('planted failure');
  }, { connection: { url: server.url }, prefix: queue.opts.prefix ?? 'bull', autorun: false });
  const failed = new Promise<void>((resolve) => worker.on('failed', (job) => {
    if (job?.id === jobId) resolve();
  }));
  void worker.run();
  await failed;
  await worker.close();
}

describe('maskValue', () => {
  it('masks planted phone numbers, emails, PINs and codes, keeps the catalog ids', () => {
    const planted = {
      waveId: 'w-1', accountId: 'ACCT-00000042', accountIds: ['ACCT-00000001', 'ACCT-00000002'], spent: 2,
      to: '+14155550100', note: 'call (415) 555-0199 or mail ann.lee@example.com now', pin: '482913', other: '482913',
      enrollment: 'K7QX9M2PLA', nested: { phone: '4155550100', list: ['bo@example.org', 17] },
    };
    const text = JSON.stringify(maskValue(planted));
    for (const secret of ['4155550100', '555-0199', 'ann.lee@example.com', '482913', 'K7QX9M2PLA', 'bo@example.org']) assert.ok(!text.includes(secret), secret);
    const m = maskValue(planted) as Record<string, unknown>;
    assert.equal(m.waveId, 'w-1');
    assert.equal(m.accountId, 'ACCT-00000042');
    assert.deepEqual(m.accountIds, ['ACCT-00000001', 'ACCT-00000002']);
    assert.equal(m.spent, 2);
    assert.equal(m.pin, MASK);
    assert.equal(m.note, `call ${MASK} or mail ${MASK} now`);
    assert.equal(maskValue(3), 3, 'a count stays a count');
  });
});

describe('login and the queue board', () => {
  it('an anonymous browser is sent to the login page; the board API answers 401 without a session', async () => {
    const page = await get('/waves');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/login?next=%2Fwaves');
    const login = await get('/login');
    assert.equal(login.status, 200);
    assert.equal(login.headers.get('content-security-policy'), PAGE_CSP);
    const board = await fetch(`${api.url}${BOARD_VIEW_PATH}/api/queues/pause`, { method: 'PUT' });
    assert.equal(board.status, 401);
    const wrong = await fetch(`${api.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'token=nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
  });

  it('a viewer reads the board and a job through its API with nothing personal in it, and cannot change anything', async () => {
    await queues.notify.add('notify', { waveId: WAVE, accountId: 'ACCT-00000001' }, { jobId: `notify.${WAVE}.ACCT-00000001` });
    // A job that breaks the catalog's rule, to prove the board's formatter is the second guard.
    await queues.notify.add('notify', { waveId: WAVE, accountId: 'ACCT-00000002', to: '+14155550123', email: 'planted@example.com', pin: '739154' }, { jobId: 'planted' });
    const cookie = await login('vi');
    const redirect = await get('/queues', cookie);
    assert.equal(redirect.headers.get('location'), `${BOARD_VIEW_PATH}/`);
    const ui = await get(`${BOARD_VIEW_PATH}/`, cookie);
    assert.equal(ui.status, 200);
    const list = await get(`${BOARD_VIEW_PATH}/api/queues?activeQueue=bw-notify&status=waiting&page=1`, cookie);
    assert.equal(list.status, 200);
    const listText = await list.text();
    assert.match(listText, /bw-notify/);
    assert.match(listText, /ACCT-00000001/);
    const job = await get(`${BOARD_VIEW_PATH}/api/queues/bw-notify/planted`, cookie);
    assert.equal(job.status, 200);
    const jobText = await job.text();
    for (const text of [listText, jobText]) {
      for (const secret of ['4155550123', 'planted@example.com', '739154']) assert.ok(!text.includes(secret), `${secret} on the board`);
    }
    assert.match(jobText, /\[masked\]/);
    for (const path of [`${BOARD_VIEW_PATH}/api/queues/pause`, `${BOARD_VIEW_PATH}/api/queues/bw-notify/planted/retry`, `${BOARD_MANAGE_PATH}/api/queues/bw-notify/pause`]) {
      assert.equal((await put(path, cookie)).status, 403, path);
    }
    assert.equal((await get(`${BOARD_MANAGE_PATH}/api/queues`, cookie)).status, 403);
    assert.equal(await queues.notify.isPaused(), false);
  });

  it('an operator pauses and resumes a queue on the operators\' board, audited; obliterate is refused to everyone', async () => {
    const cookie = await login('ana');
    assert.equal((await get('/queues', cookie)).headers.get('location'), `${BOARD_MANAGE_PATH}/`);
    assert.equal((await put(`${BOARD_MANAGE_PATH}/api/queues/bw-notify/pause`, cookie)).status, 200);
    assert.equal(await queues.notify.isPaused(), true);
    assert.equal((await put(`${BOARD_MANAGE_PATH}/api/queues/bw-notify/resume`, cookie)).status, 200);
    assert.equal(await queues.notify.isPaused(), false);
    assert.deepEqual(boardChanges.slice(-2), [
      { actor: 'operator:ana', method: 'PUT', path: '/api/queues/bw-notify/pause' },
      { actor: 'operator:ana', method: 'PUT', path: '/api/queues/bw-notify/resume' },
    ]);
    assert.equal((await put(`${BOARD_MANAGE_PATH}/api/queues/bw-notify/obliterate`, cookie)).status, 403);
    const cross = await fetch(`${api.url}${BOARD_MANAGE_PATH}/api/queues/bw-notify/pause`, { method: 'PUT', headers: { Cookie: cookie, 'Sec-Fetch-Site': 'cross-site' } });
    assert.equal(cross.status, 403);
  });

  it('an operator retries a failed job and promotes a delayed one on the operators\' board, audited; a viewer is refused both', async () => {
    await failedJob(queues['rotate-pin'], 'failed-1');
    await queues['issue-code'].add('issue-code', { waveId: WAVE, accountId: 'ACCT-00000003' }, { jobId: 'later-1', delay: 3_600_000 });
    const retry = '/api/queues/bw-rotate-pin/failed-1/retry';
    const promote = '/api/queues/bw-issue-code/later-1/promote';
    const viewer = await login('vi');
    for (const board of [BOARD_VIEW_PATH, BOARD_MANAGE_PATH]) {
      assert.equal((await put(`${board}${retry}`, viewer)).status, 403, `viewer retry on ${board}`);
      assert.equal((await put(`${board}${promote}`, viewer)).status, 403, `viewer promote on ${board}`);
    }
    assert.equal(await queues['rotate-pin'].getJobState('failed-1'), 'failed');
    assert.equal(await queues['issue-code'].getJobState('later-1'), 'delayed');
    const changes = boardChanges.length;

    const operator = await login('ana');
    assert.equal((await put(`${BOARD_MANAGE_PATH}${retry}`, operator)).status, 204);
    assert.equal(await queues['rotate-pin'].getJobState('failed-1'), 'waiting', 'the failed job is back in the queue');
    assert.equal((await put(`${BOARD_MANAGE_PATH}${promote}`, operator)).status, 204);
    assert.equal(await queues['issue-code'].getJobState('later-1'), 'waiting', 'the delayed job runs now');
    assert.deepEqual(boardChanges.slice(changes), [
      { actor: 'operator:ana', method: 'PUT', path: retry },
      { actor: 'operator:ana', method: 'PUT', path: promote },
    ]);
  });

  it('revoking the token ends its sessions; logout ends a session', async () => {
    const cookie = await login('gone');
    assert.equal((await get('/waves', cookie)).status, 200);
    await createApiTokenStore({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') }).revoke('gone');
    assert.equal((await get('/waves', cookie)).status, 303);
    const mine = await login('vi');
    const page = await (await get('/waves', mine)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
    assert.equal((await postForm('/logout', mine, { csrf })).status, 303);
    assert.equal((await get('/waves', mine)).status, 303);
  });
});

describe('the wave overview', () => {
  it('a viewer sees the wave and its dead letters but no re-drive, and is refused one', async () => {
    const cookie = await login('vi');
    const res = await get('/waves', cookie);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-security-policy'), PAGE_CSP);
    const html = await res.text();
    assert.ok(html.includes(`data-wave="${WAVE}"`));
    assert.match(html, /BW_SMS_UNDELIVERABLE/);
    assert.doesNotMatch(html, /data-redrive/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const r = await postForm(`/waves/${WAVE}/dlq/retry`, cookie, { csrf, action: 'notify', reason: GROUP.reason });
    assert.equal(r.status, 403);
  });

  it('an operator re-drives a reason with the session\'s CSRF token, and only with it', async () => {
    const cookie = await login('ana');
    const html = await (await get('/waves', cookie)).text();
    assert.match(html, /data-redrive="BW_SMS_UNDELIVERABLE"/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.equal((await postForm(`/waves/${WAVE}/dlq/retry`, cookie, { action: 'notify', reason: GROUP.reason })).status, 403);
    assert.equal((await postForm(`/waves/${WAVE}/dlq/retry`, cookie, { csrf: 'x'.repeat(43), action: 'notify', reason: GROUP.reason })).status, 403);
    assert.equal(retried.length, 0);
    const ok = await postForm(`/waves/${WAVE}/dlq/retry`, cookie, { csrf, action: 'notify', reason: GROUP.reason });
    assert.equal(ok.status, 303);
    assert.deepEqual(retried, [{ waveId: WAVE, reason: GROUP.reason, action: 'notify', actor: 'operator:ana' }]);
  });

  it('flags a running wave stuck when jobs wait and nothing finished for BW_STUCK_AFTER_SECONDS', async () => {
    // As the feeder leaves a wave it fed an hour ago (the jobs wait in bw-notify from the board test).
    const fedAt = String(Date.now() - 3600_000);
    await redis.hset(ledgerKeys(prefix).wave(WAVE), { status: 'fed', fed: 3, 'first:feeding': fedAt, 'last:feeding': fedAt });
    const cookie = await login('vi');
    const html = await (await get('/waves', cookie)).text();
    assert.match(html, /data-flag="stuck"/);
  });
});

describe('two shards of the accounts (BW_SHARDS=2)', () => {
  let sharded: RunningOpsApi;
  let shardQueues: ActionQueues;
  let shardLedger: Ledger;
  const SHARD_WAVE = 'w-sharded';

  before(async () => {
    const tag = `{opb${randomBytes(3).toString('hex')}}`;
    const shardConfig = loadConfig({
      REDIS_URL: server.url, BW_PREFIX: tag, BW_SHARDS: '2', BW_ENVELOPE_KEY: randomBytes(32).toString('base64'),
      BW_HMAC_KEY: config.hmacKey, BW_OPS_PORT: '0', BW_STUCK_AFTER_SECONDS: '60',
    });
    // As `wave create` does: the deployment's number of shards is recorded before its first wave.
    await checkShards(redis, tag, 2);
    shardLedger = createLedger({ redis, prefix: tag, shards: 2 });
    shardQueues = createActionQueues({ connection: { url: server.url }, prefix: tag, shards: 2 });
    const store = createApiTokenStore({ redis, prefix: tag, hmacKey: Buffer.from(config.hmacKey, 'base64') });
    for (const [name, role] of [['vi', 'viewer'], ['ana', 'operator']] as const) tokens[`${name}@sharded`] = (await store.create({ name, role, createdBy: 'cli:test' })).token;
    // A running wave fed an hour ago with nothing finished since: stuck, if a job waits anywhere.
    await shardLedger.createWave({ waveId: SHARD_WAVE, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, { rows: 1, accepted: 1, rejected: 0 }, {});
    await shardLedger.initAccounts(SHARD_WAVE, 'feeder', [{ accountId: 'ACCT-00000001', actions: ['notify'] }]);
    await shardLedger.setWaveStatus(SHARD_WAVE, 'fed', 'feeder');
    const fedAt = String(Date.now() - 3600_000);
    await redis.hset(ledgerKeys(tag).wave(SHARD_WAVE), { 'first:feeding': fedAt, 'last:feeding': fedAt });
    const byAction = Object.fromEntries(ACTIONS.map((a) => [a, shardQueues.shardQueues(a)])) as Record<ActionName, Queue[]>;
    const routes = createConsoleRoutes({
      ledger: shardLedger, redis, prefix: tag, queues: byAction, stuckAfterSeconds: 60,
      deadLetters: { list: async () => [], retry: async () => ({ retried: 0, expired: 0 }) },
    });
    sharded = await runOpsApi(shardConfig, logs.log, { routes, port: 0, board: { queues: ACTIONS.flatMap((a) => byAction[a].map((queue, shard) => ({ queue, shard, shards: 2 }))) } });
  });

  after(async () => {
    // Either may be missing when the set-up failed half way.
    await (sharded as RunningOpsApi | undefined)?.close();
    await (shardQueues as ActionQueues | undefined)?.close();
  });

  const loginAt = async (who: string): Promise<string> => {
    const res = await fetch(`${sharded.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens[`${who}@sharded`] ?? '', next: '/waves' }) });
    assert.equal(res.status, 303);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };

  it('the board shows every shard\'s queues under names of their own, and finds a job of shard 1; an operator retries one there', async () => {
    const notify1 = shardQueues.queueFor('notify', 1);
    await notify1.add('notify', { waveId: SHARD_WAVE, accountId: 'ACCT-00000001' }, { jobId: 'in-shard-1' });
    const viewer = await loginAt('vi');
    const list = await fetch(`${sharded.url}${BOARD_VIEW_PATH}/api/queues?activeQueue=${boardQueueKey(notify1.name, 1)}&status=waiting&page=1`, { headers: { Cookie: viewer } });
    assert.equal(list.status, 200);
    const { queues: shown } = (await list.json()) as { queues: { name: string; displayName?: string; jobs: { id: string }[] }[] };
    const want = ACTIONS.flatMap((a) => [0, 1].map((s) => boardQueueKey(shardQueues.queueFor(a, s).name, s)));
    assert.deepEqual(shown.map((q) => q.name).sort(), [...want].sort(), 'three actions × two shards, each its own key');
    assert.equal(new Set(shown.map((q) => q.displayName)).size, 6, 'and its own display name');
    assert.deepEqual(shown.find((q) => q.name === boardQueueKey(notify1.name, 1))?.jobs.map((j) => j.id), ['in-shard-1']);
    const job = await fetch(`${sharded.url}${BOARD_VIEW_PATH}/api/queues/${boardQueueKey(notify1.name, 1)}/in-shard-1`, { headers: { Cookie: viewer } });
    assert.equal(job.status, 200);

    const rotate1 = shardQueues.queueFor('rotate-pin', 1);
    await failedJob(rotate1, 'failed-in-shard-1');
    const operator = await loginAt('ana');
    const retried = await fetch(`${sharded.url}${BOARD_MANAGE_PATH}/api/queues/${boardQueueKey(rotate1.name, 1)}/failed-in-shard-1/retry`, { method: 'PUT', headers: { Cookie: operator } });
    assert.equal(retried.status, 204);
    assert.equal(await rotate1.getJobState('failed-in-shard-1'), 'waiting');
  });

  it('the wave page counts the jobs waiting in every shard (a job only in shard 1 makes the idle wave stuck) and links each shard\'s queue', async () => {
    for (const a of ACTIONS) assert.equal(await shardQueues.queueFor(a, 0).count(), 0, `nothing waits in shard 0's ${a} queue`);
    assert.ok((await shardQueues.queueFor('notify', 1).count()) > 0, 'a job waits in shard 1');
    const html = await (await fetch(`${sharded.url}/waves`, { headers: { Cookie: await loginAt('vi') } })).text();
    assert.ok(html.includes(`data-wave="${SHARD_WAVE}"`));
    assert.match(html, /data-flag="stuck"/);
    assert.ok(html.includes(`${BOARD_VIEW_PATH}/queue/${encodeURIComponent(boardQueueKey(shardQueues.queueFor('notify', 1).name, 1))}`), 'a link to shard 1\'s notify queue');
  });
});
