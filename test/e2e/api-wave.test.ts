import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createApiTokenStore } from '@breachwave/access';
import { createActionQueues } from '@breachwave/actions';
import { loadConfig } from '@breachwave/config';
import { createLedger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createControlApi, runOpsApi } from '@breachwave/ops-api-service';
import { waitFor } from '@breachwave/testkit';
import { serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();
const SMS_SENDER = 'twilio:+15005550006';

/** 30 accounts reached by SMS (phones 2025552000…), one file. */
function accountsCsv(): { text: string; phones: string[] } {
  const rows = ['account_id,segment,phone'];
  const phones: string[] = [];
  for (let i = 0; i < 30; i++) {
    const phone = `202555${2000 + i}`;
    rows.push(`API${i},former,${phone}`);
    phones.push(phone);
  }
  return { text: `${rows.join('\n')}\n`, phones };
}

test('a whole wave through the ops API only: upload, create from a manifest, dry run, approval by a second token, start, pause, pace, resume, completion, report — every operator step audited with its token\'s name; a viewer is refused every change; the same file again is caught twice', { timeout: 300_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('api-wave');
  const prefix = `apiw${randomBytes(3).toString('hex')}`;
  // A slow SMS pace (1/s) keeps the wave running until it is paused; the pace route speeds it up.
  const env = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), BW_SMS_RATE: '1', BW_OPS_PORT: '0' };
  const config = loadConfig(env);
  const ledger = createLedger({ redis, prefix });
  const queues = createActionQueues({ connection: redis, prefix });
  // The admin's token is the one made outside the API (`breachwave token create`); the others through it.
  const store = createApiTokenStore({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') });
  const tokens: Record<string, string> = { root: (await store.create({ name: 'root', role: 'admin', createdBy: 'cli:test' })).token };
  const control = await createControlApi(config, silentLogger(), { approvalsRequired: 1, maxUploadBytes: 16 * 1024 });
  const api = await runOpsApi(config, silentLogger(), { routes: control.routes, port: 0 });
  const notifier = spawnService('notifier', env, dir);

  const call = async (method: string, path: string, who: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[who] ?? 'none'}`, ...(body !== undefined ? { 'Content-Type': type } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // a report
    }
    return { status: res.status, json, text, code: (json.error as { code?: string } | undefined)?.code };
  };

  try {
    for (const [name, role] of [['ana', 'operator'], ['bo', 'approver'], ['vi', 'viewer']] as const) {
      const made = await call('POST', '/v1/tokens', 'root', { name, role });
      assert.equal(made.status, 201, made.text);
      tokens[name] = made.json.token as string;
    }
    const { text: csv, phones } = accountsCsv();

    // Bad uploads: each refused with its code, nothing kept.
    assert.equal((await call('POST', '/v1/uploads', 'ana', csv, 'text/plain')).code, 'BW_HTTP_UNSUPPORTED_MEDIA_TYPE');
    assert.equal((await call('POST', '/v1/uploads', 'ana', 'x'.repeat(20 * 1024), 'text/csv')).code, 'BW_HTTP_BODY_TOO_LARGE');
    assert.deepEqual(readdirSync(join(dir, 'uploads')), [], 'a refused upload leaves no file');

    const up = await call('POST', '/v1/uploads', 'ana', csv, 'text/csv');
    assert.equal(up.status, 201, up.text);
    assert.equal(up.json.bytes, Buffer.byteLength(csv));
    const uploaded = join(dir, 'uploads', `${String(up.json.upload)}.csv`);
    assert.equal(statSync(uploaded).mode & 0o777, 0o600, 'the upload holds contact points: owner-only');

    // Bad manifests: the field path named, no wave made.
    const noVersion = await call('POST', '/v1/waves', 'ana', { manifest: { name: 'x' }, upload: up.json.upload });
    assert.equal(noVersion.status, 400);
    assert.match((noVersion.json.error as { message: string }).message, /version: required/);
    const badLane = await call('POST', '/v1/waves', 'ana', { manifest: 'version: 1\nlane: fastest\n', upload: up.json.upload });
    assert.equal(badLane.status, 400);
    assert.match((badLane.json.error as { message: string }).message, /lane/);
    const withFile = await call('POST', '/v1/waves', 'ana', { manifest: { version: 1, accounts: '/etc/passwd' }, upload: up.json.upload });
    assert.match((withFile.json.error as { message: string }).message, /accounts: not taken here/);
    assert.equal((await call('POST', '/v1/waves', 'ana', { manifest: { version: 1 }, upload: 'ab'.repeat(12) })).code, 'BW_UPLOAD_NOT_FOUND');
    assert.deepEqual(await ledger.listWaves(), [], 'no wave from a refused request');

    const created = await call('POST', '/v1/waves', 'ana', { manifest: { version: 1, name: 'api wave', quietHours: false }, upload: up.json.upload });
    assert.equal(created.status, 201, created.text);
    const waveId = created.json.waveId as string;
    assert.deepEqual(created.json.stats && { accepted: (created.json.stats as { accepted: number }).accepted }, { accepted: 30 });
    assert.equal((created.json.manifest as { createdBy: string; approvals: number }).createdBy, 'operator:ana');
    assert.throws(() => statSync(uploaded), 'the upload is removed once the wave holds the accounts, sealed');
    const rejects = await call('GET', `/v1/waves/${waveId}/rejects`, 'ana');
    assert.equal(rejects.status, 200);
    assert.match(rejects.text, /^line,/, 'the rejects report, header only');

    // A viewer reads but changes nothing, on every mutating route.
    const mutating: [string, string, unknown?][] = [
      ['POST', '/v1/uploads', 'a,b\n'], ['DELETE', `/v1/uploads/${'ab'.repeat(12)}`], ['POST', '/v1/waves', { manifest: { version: 1 }, upload: up.json.upload }],
      ['POST', `/v1/waves/${waveId}/dry-run`], ['POST', `/v1/waves/${waveId}/approve`, {}], ['POST', `/v1/waves/${waveId}/start`],
      ['POST', `/v1/waves/${waveId}/pause`, {}], ['POST', `/v1/waves/${waveId}/resume`, {}], ['POST', `/v1/waves/${waveId}/cancel`, {}],
      ['PUT', `/v1/senders/${SMS_SENDER}/pace`, { rate: 9 }], ['POST', '/v1/tokens', { name: 'x', role: 'admin' }], ['DELETE', '/v1/tokens/ana'],
    ];
    for (const [method, path, body] of mutating) {
      const r = await call(method, path, 'vi', body, method === 'POST' && path === '/v1/uploads' ? 'text/csv' : 'application/json');
      assert.equal(r.status, 403, `${method} ${path} refused to a viewer`);
    }
    assert.equal((await call('GET', `/v1/waves/${waveId}`, 'vi')).status, 200, 'a viewer reads');

    // The guards: no start before approval, no approval before a dry run, none by the creator's role.
    assert.equal((await call('POST', `/v1/waves/${waveId}/start`, 'ana')).code, 'BW_WAVE_STATE');
    assert.equal((await call('POST', `/v1/waves/${waveId}/approve`, 'bo', {})).code, 'BW_APPROVAL_REFUSED');
    const dry = await call('POST', `/v1/waves/${waveId}/dry-run`, 'ana');
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(dry.json.byChannel, { sms: 30, email: 0, none: 0 });
    for (const p of phones) assert.ok(!dry.text.includes(p), 'the dry run shows no phone number');
    assert.equal((await call('POST', `/v1/waves/${waveId}/approve`, 'ana', {})).status, 403, 'an operator token cannot approve');
    const approved = await call('POST', `/v1/waves/${waveId}/approve`, 'bo', { reason: 'counts match the export' });
    assert.equal(approved.json.status, 'approved', approved.text);

    await waitForLog(notifier, 'notifier started');
    const started = await call('POST', `/v1/waves/${waveId}/start`, 'ana');
    assert.ok(started.status === 202 || started.status === 200, started.text);
    const sent = async () => ((await call('GET', `/v1/waves/${waveId}`, 'vi')).json.actions as { notify?: { done?: number } } | undefined)?.notify?.done ?? 0;
    await waitFor(async () => (await sent()) >= 2, { timeout: 60_000, what: 'some notices sent' });
    const paused = await call('POST', `/v1/waves/${waveId}/pause`, 'ana', { reason: 'checking the text' });
    assert.equal(paused.json.paused, true, paused.text);
    const q = queues.queueFor('notify');
    let counts: Record<string, number> = {};
    await waitFor(async () => {
      const c = counts = await q.getJobCounts('active', 'waiting', 'prioritized', 'delayed');
      return c.active === 0 && c.waiting === 0 && c.prioritized === 0 && (c.delayed ?? 0) > 0;
    }, { timeout: 30_000, what: 'the paused wave\'s jobs held in the delayed set' }).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(counts)} ${notifier.logFile}`);
    });
    const atPause = await sent();
    assert.ok(atPause < 30, `held before its end (${atPause} sent)`);
    const pace = await call('PUT', `/v1/senders/${SMS_SENDER}/pace`, 'ana', { rate: 50 });
    assert.equal(pace.json.rate, 50, pace.text);
    assert.equal((await call('POST', `/v1/waves/${waveId}/resume`, 'ana', {})).json.paused, false);
    await waitFor(async () => (await call('GET', `/v1/waves/${waveId}`, 'vi')).json.complete === true, { timeout: 120_000, what: 'the resumed wave completes' });
    assert.equal(await sent(), 30);
    assert.equal(twilio.messages.length, 30, 'one SMS per account, none twice');

    const report = await call('GET', `/v1/waves/${waveId}/report?format=csv`, 'vi');
    assert.equal(report.status, 200);
    const lines = report.text.trim().split('\n');
    assert.equal(lines.length, 31, 'a header and one line per account');
    for (const p of phones) assert.ok(!report.text.includes(p), 'the report holds no phone number');
    const summary = await call('GET', `/v1/waves/${waveId}/report?format=md`, 'vi');
    assert.match(summary.text, /api wave|30/);

    // The same file again: refused at creation, then, when allowed on purpose, at approval unless overridden.
    const again = await call('POST', '/v1/uploads', 'ana', csv, 'text/csv');
    const twice = await call('POST', '/v1/waves', 'ana', { manifest: { version: 1, quietHours: false }, upload: again.json.upload });
    assert.equal(twice.status, 409);
    assert.equal(twice.code, 'BW_SOURCE_REUSED');
    const allowed = await call('POST', '/v1/waves', 'ana', { manifest: { version: 1, quietHours: false }, upload: again.json.upload, allowSameFile: true });
    assert.equal(allowed.status, 201, allowed.text);
    const secondId = allowed.json.waveId as string;
    const dry2 = await call('POST', `/v1/waves/${secondId}/dry-run`, 'ana');
    assert.equal((dry2.json.overlap as { notified: number }).notified, 30, 'every account was notified by the first wave');
    const refused = await call('POST', `/v1/waves/${secondId}/approve`, 'bo', {});
    assert.equal(refused.code, 'BW_APPROVAL_REFUSED');
    assert.equal((await call('POST', `/v1/waves/${secondId}/approve`, 'bo', { allowOverlap: true, reason: 'a correction, on purpose' })).json.status, 'approved');
    const cancelled = await call('POST', `/v1/waves/${secondId}/cancel`, 'ana', { reason: 'not needed after all' });
    assert.equal(cancelled.json.status, 'cancelled', cancelled.text);

    // Every operator step, in order, with the name of the token that took it.
    const trail = (await redis.xrange(`${prefix}:audit`, '-', '+'))
      .map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; wave?: string; detail?: { reason?: string; allowOverlap?: boolean } })
      .filter((r) => /^(wave\.(created|dry-run|approval|feeding|paused|resumed|cancelled|source\.reused)|operator\.(pace\.set|token\.created))$/.test(r.type));
    assert.deepEqual(trail.map((r) => [r.type, r.actor, r.wave === undefined ? 0 : r.wave === waveId ? 1 : 2]), [
      ['operator.token.created', 'operator:root', 0],
      ['operator.token.created', 'operator:root', 0],
      ['operator.token.created', 'operator:root', 0],
      ['wave.created', 'operator:ana', 1],
      ['wave.dry-run', 'operator:ana', 1],
      ['wave.approval', 'operator:bo', 1],
      // The start: the feed the API runs records the token that started it.
      ['wave.feeding', 'operator:ana', 1],
      ['wave.paused', 'operator:ana', 1],
      ['operator.pace.set', 'operator:ana', 0],
      ['wave.resumed', 'operator:ana', 1],
      ['wave.created', 'operator:ana', 2],
      ['wave.source.reused', 'operator:ana', 2],
      ['wave.dry-run', 'operator:ana', 2],
      ['wave.approval', 'operator:bo', 2],
      ['wave.cancelled', 'operator:ana', 2],
    ]);
    assert.equal(trail.find((r) => r.type === 'wave.approval' && r.wave === secondId)?.detail?.allowOverlap, true);
    for (const p of phones) assert.ok(!JSON.stringify(trail).includes(p));
  } finally {
    await notifier.kill('SIGTERM');
    await api.close();
    await control.close();
    await queues.close();
  }
});
