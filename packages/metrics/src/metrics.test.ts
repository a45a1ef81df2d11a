import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createActionQueues, createRecovery } from '@breachwave/actions';
import { BreachwaveError, type SmsSender } from '@breachwave/domain';
import { QUEUES } from '@breachwave/jobs';
import { createLedger, keys as ledgerKeys } from '@breachwave/ledger';
import { createPacer } from '@breachwave/pacing';
import { captureLog, useRedis } from '@breachwave/testkit';
import type { MetricsSettings } from '@breachwave/config';
import { createProcessMetrics, parseRedisMemory, startServiceMetrics } from './index.js';

const db = useRedis();
const TOKEN = 'metrics-token-of-at-least-32-characters';
const settings = (over: Partial<MetricsSettings> = {}): MetricsSettings => ({ host: '127.0.0.1', port: 0, token: TOKEN, cacheMs: 0, dlqCacheMs: 0, stuckAfterSeconds: 600, ...over });

/** The value of one sample in Prometheus text, by name and exact label text (labels in name order). */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A wave of three accounts: one rotated and waiting for its notice, one notified by SMS, one failed for good; a deadline an hour away. */
async function smallWave(prefix: string) {
  const ledger = createLedger({ redis: db.redis, prefix });
  const waveId = 'w-metrics';
  await ledger.createWave({
    waveId, createdAt: new Date().toISOString(), source: 't.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {},
    regulatory: { determinedAt: new Date(Date.now() - 29 * 86_400_000).toISOString(), deadline: new Date(Date.now() + 3_600_000).toISOString(), rule: 'FCC: 30 days' },
  }, { rows: 3, accepted: 3, rejected: 0 }, {});
  await ledger.initAccounts(waveId, 'test', [
    { accountId: 'a1', actions: ['rotate-pin', 'notify'] },
    { accountId: 'a2', actions: ['notify'] },
    { accountId: 'a3', actions: ['notify'] },
  ]);
  const step = (accountId: string, action: 'rotate-pin' | 'notify', from: string, to: string, extra: object = {}) =>
    ledger.transition({ waveId, accountId, action, actor: 'test', from: [from as 'pending'], to: to as 'done', event: `${action}.${to}`, ...extra });
  await step('a1', 'rotate-pin', 'pending', 'claimed');
  await step('a1', 'rotate-pin', 'claimed', 'done');
  await step('a2', 'notify', 'pending', 'claimed');
  await step('a2', 'notify', 'claimed', 'done', { patch: { ch: 'sms' }, counters: { 'notify:sent:sms': 1 } });
  await step('a3', 'notify', 'pending', 'claimed');
  await step('a3', 'notify', 'claimed', 'failed', { patch: { err: 'BW_SMS_INVALID_NUMBER' }, counters: { 'notify:error:BW_SMS_INVALID_NUMBER': 1 } });
  await ledger.setWaveStatus(waveId, 'feeding', 'test');
  return { ledger, waveId };
}

test('the registry shows the ledger\'s counters, the queues\' counts, the deadline, the pace and Redis itself, as they are in Redis', async (t) => {
  const prefix = `m${randomBytes(4).toString('hex')}`;
  const { ledger, waveId } = await smallWave(prefix);
  const queues = createActionQueues({ connection: { url: db.url }, prefix });
  t.after(() => queues.close());
  await queues.add('notify', { waveId, accountId: 'a1' });
  await queues.add('notify', { waveId, accountId: 'a9' }, { delay: 60_000 });
  const pacer = createPacer({ redis: db.redis, prefix, sender: 'smtp:relay.example.com:25' });
  await pacer.setRate(7.5);
  pacer.close();

  const metrics = createProcessMetrics({ redisUrl: db.url, prefix, metrics: settings(), senders: ['smtp:relay.example.com:25', 'twilio:default'] }, { service: 'notifier', log: captureLog().log });
  t.after(() => metrics.close());
  metrics.heartbeat(() => true);
  const text = await metrics.registry.metrics();

  const counts = await ledger.counts(waveId);
  for (const [field, value] of Object.entries(counts)) {
    const [action, state, extra] = field.split(':');
    if (extra !== undefined || !action || !state || action === 'accounts') continue;
    assert.equal(sample(text, 'breachwave_wave_accounts', `wave="${waveId}",action="${action}",state="${state}"`), value, field);
  }
  assert.equal(sample(text, 'breachwave_wave_accounts', `wave="${waveId}",action="notify",state="done"`), 1);
  assert.equal(sample(text, 'breachwave_notices_sent_total', `wave="${waveId}",channel="sms"`), counts['notify:sent:sms']);
  assert.equal(sample(text, 'breachwave_notices_sent_total', `wave="${waveId}",channel="email"`), 0);
  assert.equal(sample(text, 'breachwave_notice_errors_total', `wave="${waveId}",code="BW_SMS_INVALID_NUMBER"`), 1);
  assert.equal(sample(text, 'breachwave_wave_accepted_accounts', `wave="${waveId}"`), 3);
  assert.equal(sample(text, 'breachwave_wave_finished_accounts', `wave="${waveId}"`), 2);
  assert.equal(sample(text, 'breachwave_wave_paused', `wave="${waveId}"`), 0);
  const left = sample(text, 'breachwave_wave_deadline_seconds_left', `wave="${waveId}"`) ?? NaN;
  assert.ok(left > 3500 && left <= 3600, `about an hour left, got ${left}`);
  // Two of three finished in well under a second since the feed began: on pace, not at risk.
  assert.equal(sample(text, 'breachwave_wave_at_risk', `wave="${waveId}"`), 0);
  assert.equal(sample(text, 'breachwave_dead_letters', 'action="notify",reason="BW_SMS_INVALID_NUMBER"'), 1);

  const bull = await queues.queueFor('notify').getJobCounts('wait', 'delayed', 'active');
  assert.equal(sample(text, 'breachwave_queue_jobs', `queue="${QUEUES.notify}",state="waiting"`), bull.wait);
  assert.equal(sample(text, 'breachwave_queue_jobs', `queue="${QUEUES.notify}",state="delayed"`), bull.delayed);
  assert.equal(bull.wait, 1);
  assert.equal(sample(text, 'breachwave_queue_jobs', `queue="${QUEUES.rotatePin}",state="waiting"`), 0);
  const oldest = sample(text, 'breachwave_queue_oldest_waiting_seconds', `queue="${QUEUES.notify}"`) ?? NaN;
  assert.ok(oldest >= 0 && oldest < 30, `the waiting job is seconds old, got ${oldest}`);
  assert.equal(sample(text, 'breachwave_queue_oldest_waiting_seconds', `queue="${QUEUES.issueCode}"`), 0);

  assert.equal(sample(text, 'breachwave_sender_pace_per_second', 'sender="smtp:relay.example.com:25"'), 7.5);
  assert.equal(sample(text, 'breachwave_sender_pace_per_second', 'sender="twilio:default"'), undefined, 'an unpaced sender has no sample');
  assert.equal(sample(text, 'breachwave_code_pool_low_watermark'), 1000);
  assert.equal(sample(text, 'breachwave_redis_up'), 1);
  assert.equal(sample(text, 'breachwave_redis_noeviction'), 1);
  assert.ok((sample(text, 'breachwave_redis_memory_used_bytes') ?? 0) > 0);
  const beat = sample(text, 'breachwave_worker_heartbeat_timestamp_seconds', 'service="notifier"') ?? 0;
  assert.ok(Math.abs(beat - Date.now() / 1000) < 5);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m, 'process metrics are there');
  // Nothing that identifies a person reaches a label.
  assert.doesNotMatch(text, /a1|a2|a3|\+1\d{10}|@example/);

  // A wave paused shows it at the next reading (the cache is off here).
  await ledger.control('pause', waveId, 'test');
  assert.equal(sample(await metrics.registry.metrics(), 'breachwave_wave_paused', `wave="${waveId}"`), 1);
});

test('rotated PINs waiting for their notice: the recovery sweep counts them on the wave, the metrics show its count', async (t) => {
  const prefix = `m${randomBytes(4).toString('hex')}`;
  const { ledger, waveId } = await smallWave(prefix);
  const queues = createActionQueues({ connection: { url: db.url }, prefix });
  t.after(() => queues.close());
  const metrics = createProcessMetrics({ redisUrl: db.url, prefix, metrics: settings() }, { service: 'notifier', log: captureLog().log });
  t.after(() => metrics.close());
  assert.equal(sample(await metrics.registry.metrics(), 'breachwave_wave_pins_overdue', `wave="${waveId}"`), undefined, 'no sweep yet: no sample');
  // a1's PIN was rotated and its notice is pending: overdue at once with a limit of 0.
  const later = Date.now() + 120_000;
  await createRecovery({ ledger, queues, log: captureLog().log, staleMs: 3_600_000, pinNoticeLimitMs: 0, now: () => later }).sweep();
  const text = await metrics.registry.metrics();
  assert.equal(sample(text, 'breachwave_wave_pins_awaiting_notice', `wave="${waveId}"`), 1);
  assert.equal(sample(text, 'breachwave_wave_pins_overdue', `wave="${waveId}"`), 1);
  const oldest = sample(text, 'breachwave_wave_pin_oldest_awaiting_notice_seconds', `wave="${waveId}"`) ?? 0;
  assert.ok(oldest >= 119 && oldest < 200, `about two minutes, got ${oldest}`);
  assert.equal(sample(text, 'breachwave_wave_pin_check_timestamp_seconds', `wave="${waveId}"`), Math.floor(later / 1000));
});

test('a wave is reported stuck by the configured threshold (BW_STUCK_AFTER_SECONDS), not a fixed one', async (t) => {
  const prefix = `m${randomBytes(4).toString('hex')}`;
  const ledger = createLedger({ redis: db.redis, prefix });
  const waveId = 'w-stuck';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, { rows: 2, accepted: 2, rejected: 0 }, {});
  await ledger.initAccounts(waveId, 'test', [{ accountId: 'a1', actions: ['notify'] }, { accountId: 'a2', actions: ['notify'] }]);
  await ledger.setWaveStatus(waveId, 'fed', 'test');
  // Fed an hour ago, nothing finished since: stuck after half an hour, not yet after two.
  const fedAt = String(Date.now() - 3600_000);
  await db.redis.hset(ledgerKeys(prefix).wave(waveId), { 'first:feeding': fedAt, 'last:feeding': fedAt });
  const read = async (stuckAfterSeconds: number): Promise<string> => {
    const m = createProcessMetrics({ redisUrl: db.url, prefix, metrics: settings({ stuckAfterSeconds }) }, { service: 'notifier', log: captureLog().log });
    t.after(() => m.close());
    return m.registry.metrics();
  };
  const short = await read(1800);
  const long = await read(7200);
  assert.equal(sample(short, 'breachwave_wave_stuck', `wave="${waveId}"`), 1);
  assert.equal(sample(long, 'breachwave_wave_stuck', `wave="${waveId}"`), 0);
  const idle = sample(short, 'breachwave_wave_idle_seconds', `wave="${waveId}"`) ?? NaN;
  assert.ok(idle >= 3600 && idle < 3700, `idle since the feed began, got ${idle}`);
});

test('action outcomes are counted by action, outcome, class and code', async (t) => {
  const metrics = createProcessMetrics({ redisUrl: db.url, prefix: 'unused', metrics: settings() }, { service: 'notifier', log: captureLog().log });
  t.after(() => metrics.close());
  metrics.outcome({ action: 'notify', outcome: 'done', class: 'none', code: 'none' });
  metrics.outcome({ action: 'notify', outcome: 'done', class: 'none', code: 'none' });
  metrics.outcome({ action: 'notify', outcome: 'failed', class: 'permanent', code: 'BW_SMS_INVALID_NUMBER' });
  const text = await metrics.registry.metrics();
  assert.equal(sample(text, 'breachwave_action_outcomes_total', 'action="notify",class="none",code="none",outcome="done"'), 2);
  assert.equal(sample(text, 'breachwave_action_outcomes_total', 'action="notify",class="permanent",code="BW_SMS_INVALID_NUMBER",outcome="failed"'), 1);
});

test('readings are cached: a second scrape within the cache time reads Redis no more', async (t) => {
  const prefix = `m${randomBytes(4).toString('hex')}`;
  const { ledger, waveId } = await smallWave(prefix);
  const metrics = createProcessMetrics({ redisUrl: db.url, prefix, metrics: settings({ cacheMs: 60_000 }) }, { service: 'ops-api', log: captureLog().log });
  t.after(() => metrics.close());
  const first = await metrics.registry.metrics();
  await ledger.control('pause', waveId, 'test');
  const second = await metrics.registry.metrics();
  assert.equal(sample(first, 'breachwave_wave_paused', `wave="${waveId}"`), 0);
  assert.equal(sample(second, 'breachwave_wave_paused', `wave="${waveId}"`), 0, 'the cached reading');
});

test('provider requests are timed by channel and outcome (the error kind), and sends counted', async (t) => {
  const metrics = createProcessMetrics({ redisUrl: db.url, prefix: 'unused', metrics: settings() }, { service: 'notifier', log: captureLog().log });
  t.after(() => metrics.close());
  let fail = false;
  const raw: SmsSender = {
    async send() {
      if (fail) throw new BreachwaveError('BW_SMS_THROTTLED');
      return { providerId: 'SM1', status: 'queued' } as never;
    },
  };
  const sms = metrics.providers.sms(raw);
  await sms.send({} as never);
  await sms.send({} as never);
  fail = true;
  await assert.rejects(sms.send({} as never), BreachwaveError);
  const text = await metrics.registry.metrics();
  assert.equal(sample(text, 'breachwave_provider_request_seconds_count', 'channel="sms",outcome="ok"'), 2);
  assert.equal(sample(text, 'breachwave_provider_request_seconds_count', 'channel="sms",outcome="throttled"'), 1);
  assert.equal(sample(text, 'breachwave_provider_sends_total', 'channel="sms"'), 2);
  assert.equal(sample(text, 'breachwave_provider_sends_total', 'channel="email"'), 0);
});

test('a worker\'s /metrics needs the token; /healthz and /readyz answer without', async (t) => {
  const prefix = `m${randomBytes(4).toString('hex')}`;
  const { waveId } = await smallWave(prefix);
  const m = await startServiceMetrics({ redisUrl: db.url, prefix, metrics: settings() }, { service: 'pin-rotator', log: captureLog().log, port: 0 });
  t.after(() => m.close());
  assert.ok(m.url);
  const none = await fetch(`${m.url}/metrics`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'BW_HTTP_UNAUTHORIZED');
  assert.equal((await fetch(`${m.url}/metrics`, { headers: { Authorization: 'Bearer not-the-token' } })).status, 401);
  const ok = await fetch(`${m.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await ok.text();
  assert.equal(sample(text, 'breachwave_wave_accounts', `wave="${waveId}",action="rotate-pin",state="done"`), 1);
  assert.ok(sample(text, 'breachwave_worker_heartbeat_timestamp_seconds', 'service="pin-rotator"'));
  assert.deepEqual(await (await fetch(`${m.url}/healthz`)).json(), { status: 'ok' });
  assert.deepEqual(await (await fetch(`${m.url}/readyz`)).json(), { status: 'ready' });
  assert.equal((await fetch(`${m.url}/nope`)).status, 404);
});

test('without a token configured /metrics refuses everyone', async (t) => {
  const m = await startServiceMetrics({ redisUrl: db.url, prefix: 'unused', metrics: settings({ token: undefined } as Partial<MetricsSettings>) }, { service: 'feeder', log: captureLog().log, port: 0 });
  t.after(() => m.close());
  assert.equal((await fetch(`${m.url}/metrics`, { headers: { Authorization: 'Bearer undefined' } })).status, 401);
});

test('/readyz is 503 while Redis is unreachable; /healthz stays 200 and /metrics says redis_up 0', async (t) => {
  // Port 1 on loopback: nothing listens there.
  const m = await startServiceMetrics({ redisUrl: 'redis://127.0.0.1:1', prefix: 'unused', metrics: settings() }, { service: 'code-issuer', log: captureLog().log, port: 0 });
  t.after(() => m.close());
  const ready = await fetch(`${m.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual(await ready.json(), { status: 'not-ready', reason: 'Redis is unreachable' });
  assert.equal((await fetch(`${m.url}/healthz`)).status, 200);
  const text = await (await fetch(`${m.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  assert.equal(sample(text, 'breachwave_redis_up'), 0);
  assert.equal(sample(text, 'breachwave_metrics_read_errors_total', 'source="redis"'), 1);
});

test('/readyz is 503 when Redis may evict (an INFO answer naming another policy)', async (t) => {
  // A stand-in client: changing the policy of the Redis other suites share would fail their start-up checks.
  const info = '# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n';
  const redis = { status: 'ready', info: async () => info, ping: async () => 'PONG', on: () => redis, defineCommand: () => undefined };
  const m = createProcessMetrics({ redisUrl: db.url, prefix: 'unused', metrics: settings() }, { service: 'notifier', log: captureLog().log, redis: redis as never });
  t.after(() => m.close());
  assert.deepEqual(await m.readiness(), { ready: false, reason: 'Redis maxmemory-policy is allkeys-lru, not noeviction' });
  assert.deepEqual(parseRedisMemory(info), { usedBytes: 1048576, maxBytes: 0, policy: 'allkeys-lru' });
});
