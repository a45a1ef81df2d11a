import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createActionQueues } from '@breachwave/actions';
import { loadConfig } from '@breachwave/config';
import { ACTIONS, DEFAULT_ACTION_RULES } from '@breachwave/domain';
import { createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor, freePort } from '@breachwave/testkit';
import { serviceEnv, spawnService, tempDir, useWorld, waitForLog, type ServiceProcess } from './harness.js';
import { pinEnv } from './pin-support.js';

const world = useWorld();

/** The value of the sample of `name` carrying every one of `labels` (in any order), or undefined. */
function sample(text: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** The sum of every sample of `name` carrying all of `labels`. */
function total(text: string, name: string, labels: Readonly<Record<string, string>>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('a small wave through every service: each serves /metrics behind its token, the feeder while it feeds, and what they export agrees with the ledger', { timeout: 300_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('metrics');
  const prefix = `met${randomBytes(3).toString('hex')}`;
  const token = randomBytes(24).toString('hex');
  // The recovery sweep runs once, a second after a worker starts, and then not for an hour: the
  // test controls when that one sweep can see the wave (below), so the wave stays `fed` once fed
  // and its per-wave series are there to read. A small feed window makes the feeder wait for the
  // workers, long enough to be scraped while it feeds.
  const base = {
    ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), ...pinEnv(), BW_METRICS_TOKEN: token, BW_METRICS_CACHE_MS: '0',
    BW_RECOVERY_INTERVAL_MS: '3600000', BW_AUDIT_DIR: join(dir, 'audit'), BW_FEED_WINDOW: '5', BW_FEED_BATCH: '5', BW_JOB_ACCOUNTS: '5',
  };
  const config = loadConfig(base);
  const ledger = createLedger({ redis, prefix });
  const file = join(dir, 'accounts.csv');
  // A third prepaid with their PIN exposed (rotate-pin, then an SMS), a third with their SSN
  // exposed and only an email (issue-code, then an email), a third notice only (SMS).
  const rows = Array.from({ length: 24 }, (_, i) => {
    if (i % 3 === 0) return `M${i},prepaid-active,Ana Lopez,202555${1100 + i},,pin;name`;
    if (i % 3 === 1) return `M${i},former,Ana Lopez,,m${i}@metrics.example.com,ssn;name`;
    return `M${i},former,Ana Lopez,202555${1100 + i},,name;phone`;
  });
  writeFileSync(file, ['account_id,segment,name,phone,email,exposed', ...rows].join('\n') + '\n');
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, log: silentLogger(),
    rules: { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'], 'issue-code': DEFAULT_ACTION_RULES['issue-code'] }, pinDelivery: 'sms-temporary',
    codeSource: { kind: 'generated' }, enrollBy: '2028-12-31',
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))) });
  const waveId = wave.waveId;
  assert.equal(wave.stats.accepted, 24);

  const auth = { authorization: `Bearer ${token}` };
  /** Checks a process's probes and token, and returns its metrics text, scanned for contact data. */
  const scrape = async (label: string, url: string): Promise<string> => {
    assert.equal((await fetch(`${url}/metrics`)).status, 401, `${label}: no metrics without the token`);
    assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401, `${label}: nor with a wrong one`);
    const res = await fetch(`${url}/metrics`, { headers: auth });
    assert.equal(res.status, 200, `${label}: metrics with the token`);
    const text = await res.text();
    assert.equal(sample(text, 'breachwave_redis_up', {}), 1, `${label}: Redis up`);
    for (const leak of ['202555', '@metrics.example.com', 'Ana Lopez']) assert.ok(!text.includes(leak), `${label}: no contact data in the metrics`);
    return text;
  };

  const procs: ServiceProcess[] = [];
  const workers = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer'] as const;
  const ports = new Map<string, number>();
  const queues = createActionQueues({ connection: { url: server.url }, prefix });
  try {
    const opsPort = await freePort();
    const ops = spawnService('ops-api', { ...base, BW_OPS_PORT: String(opsPort) }, dir);
    procs.push(ops);
    const feederPort = await freePort();
    const feeder = spawnService('feeder', { ...base, BW_METRICS_PORT: String(feederPort) }, dir, 'feeder', [waveId]);
    procs.push(feeder);
    await waitForLog(feeder, 'feed window full: waiting for workers');
    await waitForLog(ops, 'ops-api listening');

    // The feeder, while it feeds: what it reads agrees with the ledger and the queues.
    const feederUrl = `http://127.0.0.1:${feederPort}`;
    assert.equal((await fetch(`${feederUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${feederUrl}/readyz`)).status, 200);
    const feeding = await scrape('feeder', feederUrl);
    assert.equal(sample(feeding, 'breachwave_wave_status', { wave: waveId, status: 'feeding' }), 1, 'the feeder: the wave is being fed');
    assert.equal(sample(feeding, 'breachwave_wave_accepted_accounts', { wave: waveId }), wave.stats.accepted);
    assert.ok((sample(feeding, 'breachwave_worker_heartbeat_timestamp_seconds', { service: 'feeder' }) ?? 0) > 0, 'the feeder\'s heartbeat while it feeds');
    const fedSoFar = await ledger.counts(waveId);
    for (const a of ACTIONS) {
      assert.equal(sample(feeding, 'breachwave_wave_accounts', { wave: waveId, action: a, state: 'pending' }) ?? 0, Number(fedSoFar[`${a}:pending`] ?? 0), `feeder: ${a} pending as the ledger counts it`);
      const waiting = (await queues.queueFor(a).getJobCounts('wait')).wait ?? 0;
      assert.equal(sample(feeding, 'breachwave_queue_jobs', { queue: queues.queueFor(a).name, state: 'waiting' }), waiting, `feeder: ${a} jobs waiting as BullMQ counts them`);
    }
    assert.ok(Number(fedSoFar.accounts ?? 0) > 0 && Number(fedSoFar.accounts ?? 0) < wave.stats.accepted, 'the feed is under way, not done');

    // Paused, the workers hold every job back and the feeder stays where it is, so the one
    // recovery sweep (a second after the first worker starts) finds a wave being fed and leaves it.
    await ledger.control('pause', waveId, 'test');
    for (const s of workers) {
      const port = await freePort();
      ports.set(s, port);
      procs.push(spawnService(s, { ...base, BW_METRICS_PORT: String(port) }, dir));
    }
    await Promise.all(procs.slice(2).map((p, i) => waitForLog(p, workers[i] === 'audit-writer' ? 'audit writer started' : `${workers[i]} started`)));
    await waitFor(async () => (await redis.exists(`${prefix}:recovery:leader`)) === 1, { timeout: 30_000, what: 'the recovery leader elected (its one sweep under way)' });
    await ledger.control('resume', waveId, 'test');
    assert.equal(await feeder.exited, 0, 'the feeder ends once the wave is fed');
    // The known end state: fed, every account finished, and no sweep to complete it.
    await waitFor(async () => (await waveProgress(ledger, waveId)).complete, { timeout: 120_000, what: 'every account finished' });
    const p = await waveProgress(ledger, waveId);
    const counts = await ledger.counts(waveId);
    assert.equal(p.status, 'fed');
    for (const [a, n] of [['rotate-pin', 8], ['issue-code', 8], ['notify', 24]] as const) assert.equal(Number(counts[`${a}:done`] ?? 0), n, `${a}: every account done`);

    const texts = new Map<string, string>();
    for (const [s, url] of [...workers.map((w) => [w, `http://127.0.0.1:${ports.get(w)}`] as const), ['ops-api', `http://127.0.0.1:${opsPort}`] as const]) {
      if (s !== 'ops-api') {
        assert.equal((await fetch(`${url}/healthz`)).status, 200, `${s}: alive`);
        assert.equal((await fetch(`${url}/readyz`)).status, 200, `${s}: ready`);
      }
      assert.equal((await ledger.getWave(waveId)).status, 'fed', `${s}: the wave is fed before the scrape`);
      const text = await scrape(s, url);
      assert.equal((await ledger.getWave(waveId)).status, 'fed', `${s}: and after it`);
      texts.set(s, text);
      for (const a of ACTIONS) {
        assert.equal(sample(text, 'breachwave_wave_accounts', { wave: waveId, action: a, state: 'done' }), Number(counts[`${a}:done`]), `${s}: ${a} done, as the ledger counts it`);
      }
      for (const channel of ['sms', 'email'] as const) {
        assert.equal(sample(text, 'breachwave_notices_sent_total', { wave: waveId, channel }), p.sent[channel], `${s}: ${channel} notices sent, as the ledger counts them`);
      }
      if (s !== 'audit-writer' && s !== 'ops-api') assert.ok((sample(text, 'breachwave_worker_heartbeat_timestamp_seconds', { service: s }) ?? 0) > 0, `${s}: its heartbeat`);
    }
    const notifier = texts.get('notifier') ?? '';
    assert.equal(sample(notifier, 'breachwave_provider_request_seconds_count', { channel: 'sms', outcome: 'ok' }), p.sent.sms, 'the notifier timed each SMS the ledger records as sent');
    assert.equal(sample(notifier, 'breachwave_provider_request_seconds_count', { channel: 'email', outcome: 'ok' }), p.sent.email, 'and each email');

    // Action outcomes, summed over the processes that run actions, against the ledger's counts.
    const outcomes = ['notifier', 'pin-rotator', 'code-issuer'].map((s) => texts.get(s) ?? '').join('\n');
    for (const a of ACTIONS) {
      for (const state of ['done', 'failed', 'skipped', 'cancelled'] as const) {
        assert.equal(total(outcomes, 'breachwave_action_outcomes_total', { action: a, outcome: state }), Number(counts[`${a}:${state}`] ?? 0), `${a} ${state}: outcomes counted = the ledger's`);
      }
      for (const event of ['throttled', 'deferred', 'ambiguous'] as const) {
        assert.equal(total(outcomes, 'breachwave_action_outcomes_total', { action: a, outcome: event }), Number(counts[`${a}:${event}`] ?? 0), `${a} ${event}: outcomes counted = the ledger's`);
      }
    }
    assert.equal(sample(texts.get('pin-rotator') ?? '', 'breachwave_action_outcomes_total', { action: 'rotate-pin', outcome: 'done', class: 'none', code: 'none' }), 8, 'the pin-rotator counted its rotations');
  } finally {
    await queues.close();
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
  }
});
