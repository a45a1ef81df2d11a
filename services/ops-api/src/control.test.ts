import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createApiTokenStore, type ApiRole } from '@breachwave/access';
import { loadConfig, type BreachwaveConfig } from '@breachwave/config';
import { createWave } from '@breachwave/feeder';
import { createLedger, keys as ledgerKeys, type Ledger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createLease } from '@breachwave/redis';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { acquireRedis, captureLog, waitFor, type TestRedis } from '@breachwave/testkit';
import { OPENAPI_PATH, createControlApi, type ControlApi } from './control.js';
import { OPERATOR_HEADER, runOpsApi, type RunningOpsApi } from './run.js';

let server: TestRedis;
let redis: Redis;
let config: BreachwaveConfig;
let ledger: Ledger;
let control: ControlApi;
let api: RunningOpsApi;
let dir: string;
let prefix: string;
const OPS_TOKEN = randomBytes(24).toString('hex');
const logs = captureLog('ops-control-test');
/** name → token, made the way `breachwave token create` makes them. */
const tokens: Record<string, string> = {};

before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
  prefix = `opc${randomBytes(3).toString('hex')}`;
  dir = await mkdtemp(join(tmpdir(), 'bw-ops-control-'));
  config = loadConfig({
    REDIS_URL: server.url,
    BW_PREFIX: prefix,
    BW_DATA_DIR: dir,
    BW_ENVELOPE_KEY: randomBytes(32).toString('base64'),
    BW_HMAC_KEY: randomBytes(32).toString('base64'),
    BW_OPS_PORT: '0',
    BW_OPS_TOKEN: OPS_TOKEN,
    BW_OPS_MAX_BODY_BYTES: '4096',
  });
  ledger = createLedger({ redis, prefix });
  const store = createApiTokenStore({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') });
  const roles: Record<string, ApiRole> = { root: 'admin', ana: 'operator', cy: 'operator', bo: 'approver', vi: 'viewer' };
  for (const [name, role] of Object.entries(roles)) tokens[name] = (await store.create({ name, role, createdBy: 'cli:test' })).token;
  control = await createControlApi(config, logs.log);
  api = await runOpsApi(config, logs.log, { routes: control.routes, port: 0 });
});

after(async () => {
  await api.close();
  await control.close();
  await redis.quit();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A wave created by ana that needs one approval, as `wave create` makes it. */
async function makeWave(name: string, rows = 40, extra: Partial<Parameters<typeof createWave>[0]> = {}): Promise<string> {
  const file = join(dir, `${name}.csv`);
  await writeAccountsFile(file, { rows, seed: 7, malformedRate: 0, duplicateRate: 0 });
  const wave = await createWave({
    ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name),
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))), log: silentLogger(), approvals: 1, actor: 'operator:ana',
    ...extra,
  });
  return wave.waveId;
}

async function call(method: string, path: string, who?: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string; headers: Headers }> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { ...(who ? { Authorization: `Bearer ${tokens[who] ?? who}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // a report or another non-JSON answer
  }
  return { status: res.status, json, text, headers: res.headers };
}
const codeOf = (r: { json: Record<string, unknown> }) => (r.json.error as { code?: string } | undefined)?.code;

interface Audit { type: string; actor: string; wave?: string }
async function audit(wave?: string): Promise<Audit[]> {
  const records = (await redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as Audit);
  return wave ? records.filter((r) => r.wave === wave) : records;
}

const MUTATING = (w: string): [string, string, unknown?][] => [
  ['POST', `/v1/waves/${w}/dry-run`],
  ['POST', `/v1/waves/${w}/approve`],
  ['POST', `/v1/waves/${w}/start`],
  ['POST', `/v1/waves/${w}/pause`, {}],
  ['POST', `/v1/waves/${w}/resume`, {}],
  ['POST', `/v1/waves/${w}/cancel`, {}],
  ['PUT', '/v1/senders/twilio:+15005550006/pace', { rate: 5 }],
  ['POST', `/v1/waves/${w}/accounts`, { upload: 'ab'.repeat(12) }],
  ['POST', `/v1/waves/${w}/recover`, {}],
  ['POST', `/v1/waves/${w}/reminders`, { days: 7 }],
  ['POST', '/v1/dead-letters/retry', { reason: 'BW_SMS_INVALID_NUMBER' }],
  ['POST', '/v1/tokens', { name: 'eve', role: 'admin' }],
  ['DELETE', '/v1/tokens/ana'],
];

describe('roles', () => {
  it('a missing or unknown token is 401; a viewer is refused (403) on every mutating route and changes nothing', async () => {
    const w = await makeWave('roles');
    const before = await audit();
    for (const [method, path, body] of MUTATING(w)) {
      for (const who of [undefined, randomBytes(24).toString('hex')]) {
        const r = await call(method, path, who, body);
        assert.equal(r.status, 401, `${method} ${path} ${who ? 'unknown token' : 'no token'}`);
        assert.equal(codeOf(r), 'BW_HTTP_UNAUTHORIZED');
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      }
      const r = await call(method, path, 'vi', body);
      assert.equal(r.status, 403, `${method} ${path} as a viewer`);
      assert.equal(codeOf(r), 'BW_HTTP_FORBIDDEN');
      assert.match(String((r.json.error as { message: string }).message), /role/);
    }
    assert.equal((await audit()).length, before.length, 'nothing refused was done');
    assert.equal((await ledger.getWave(w)).status, 'created');
    const list = await call('GET', '/v1/waves', 'vi');
    assert.equal(list.status, 200);
    assert.ok((list.json.waves as { waveId: string }[]).some((x) => x.waveId === w));
    assert.equal((await call('GET', `/v1/waves/${w}`, 'vi')).status, 200);
    for (const path of ['/v1/dead-letters', `/v1/dead-letters/letters?wave=${w}`, '/v1/senders/twilio:+15005550006/pace']) {
      assert.equal((await call('GET', path, 'vi')).status, 200, `a viewer reads ${path}`);
    }
    assert.equal((await call('GET', '/v1/waves/nope-not-a-wave', 'vi')).status, 404);
    assert.equal(codeOf(await call('GET', '/v1/waves/bad%20id', 'vi')), 'BW_INPUT_INVALID');
  });

  it('an admin manages tokens; a listing never shows a token; a revoked token stops working; no token reaches the log', async () => {
    const made = await call('POST', '/v1/tokens', 'root', { name: 'dee', role: 'viewer' });
    assert.equal(made.status, 201);
    assert.equal(made.json.role, 'viewer');
    const token = String(made.json.token);
    assert.ok(token.length >= 40);
    assert.equal((await call('GET', '/v1/waves', token)).status, 200);
    assert.equal(codeOf(await call('POST', '/v1/tokens', 'root', { name: 'dee', role: 'admin' })), 'BW_TOKEN_NAME_TAKEN');
    assert.equal((await call('POST', '/v1/tokens', 'root', { name: 'x y', role: 'admin' })).status, 400);
    assert.equal((await call('POST', '/v1/tokens', 'root', { name: 'ed', role: 'root' })).status, 400);
    assert.equal((await call('POST', '/v1/tokens', 'ana', { name: 'ed', role: 'admin' })).status, 403, 'an operator cannot make tokens');
    const listed = await call('GET', '/v1/tokens', 'root');
    assert.deepEqual((listed.json.tokens as { name: string; role: string }[]).map((t) => `${t.name}:${t.role}`), ['ana:operator', 'bo:approver', 'cy:operator', 'dee:viewer', 'root:admin', 'vi:viewer']);
    for (const t of [...Object.values(tokens), token]) assert.ok(!listed.text.includes(t), 'no token in a listing');
    assert.equal((await call('DELETE', '/v1/tokens/dee', 'root')).status, 200);
    assert.equal((await call('GET', '/v1/waves', token)).status, 401, 'revoked');
    assert.equal(codeOf(await call('DELETE', '/v1/tokens/dee', 'root')), 'BW_TOKEN_NOT_FOUND');
    const trail = await audit();
    assert.ok(trail.some((r) => r.type === 'operator.token.created' && r.actor === 'operator:root'));
    assert.ok(trail.some((r) => r.type === 'operator.token.revoked' && r.actor === 'operator:root'));
    const dump = JSON.stringify(await redis.hgetall(`${prefix}:api:tokens`));
    for (const t of [...Object.values(tokens), token]) {
      assert.ok(!dump.includes(t), 'tokens are stored hashed');
      assert.ok(!logs.text().includes(t), 'no token in the log');
    }
  });

  it('the shared BW_OPS_TOKEN is an operator\'s: it may read and steer, never approve', async () => {
    const w = await makeWave('shared');
    const shared = (path: string) => fetch(`${api.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${OPS_TOKEN}`, [OPERATOR_HEADER]: 'cy' } });
    assert.equal((await shared(`/v1/waves/${w}/dry-run`)).status, 200);
    const approve = await shared(`/v1/waves/${w}/approve`);
    assert.equal(approve.status, 403);
    assert.ok((await audit(w)).some((r) => r.type === 'wave.dry-run' && r.actor === 'operator:cy'));
  });
});

describe('a wave driven through the API', () => {
  it('dry run by its creator, approval refused to an operator and given by an approver, start, pause, resume; each step audited with the token\'s name', async () => {
    // A deadline two days out: the clock counts down to it.
    const deadline = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const w = await makeWave('drive', 40, { regulatory: { determinedAt: new Date(Date.now() - 86_400_000).toISOString(), deadline, rule: 'FCC 47 CFR 64.2011: 30 days' } });
    assert.equal(codeOf(await call('POST', `/v1/waves/${w}/start`, 'ana')), 'BW_WAVE_STATE', 'not approved yet');
    assert.equal(codeOf(await call('POST', `/v1/waves/${w}/approve`, 'bo')), 'BW_APPROVAL_REFUSED', 'no dry run yet');
    const dry = await call('POST', `/v1/waves/${w}/dry-run`, 'ana');
    assert.equal(dry.status, 200);
    assert.equal(dry.json.accepted, 40);
    assert.equal((await call('POST', `/v1/waves/${w}/approve`, 'ana')).status, 403, 'an operator cannot approve');
    assert.equal((await call('POST', `/v1/waves/${w}/approve`, 'root')).status, 403, 'nor can an admin: only an approver approves');
    const approved = await call('POST', `/v1/waves/${w}/approve`, 'bo');
    assert.equal(approved.status, 200);
    assert.equal(approved.json.status, 'approved');
    assert.deepEqual(approved.json.approvers, ['operator:bo']);

    const started = await call('POST', `/v1/waves/${w}/start`, 'ana');
    assert.ok(started.status === 202 || started.status === 200, `start: ${started.status} ${started.text}`);
    await waitFor(async () => (await ledger.getWave(w)).status === 'fed', { timeout: 15_000 });
    const progress = await call('GET', `/v1/waves/${w}`, 'vi');
    assert.equal(progress.status, 200);
    // The clock, as wave status --json gives it: no worker runs here, so nothing has finished.
    const clock = progress.json.clock as Record<string, unknown>;
    assert.equal(clock.deadline, deadline);
    assert.equal(progress.json.deadlineRule, 'FCC 47 CFR 64.2011: 30 days');
    const left = clock.timeLeftSeconds as number;
    assert.ok(left > 86_400 && left <= 2 * 86_400, `time left ${left} s`);
    assert.equal(clock.ratePerSecond, null, 'no notice finished: no rate');
    assert.equal(clock.etaSeconds, null);
    assert.equal(clock.notifiedPct, 0);
    assert.equal(clock.atRisk, false, 'more than a day left');
    assert.equal(clock.stuck, false, 'not stuck before BW_STUCK_AFTER_SECONDS');
    assert.equal(typeof clock.idleSeconds, 'number');
    const wave = await ledger.getWave(w);
    assert.equal(wave.stats.fed, 40, 'every accepted account queued');
    let entries = 0;
    for await (const [, entry] of ledger.entries(w)) {
      entries++;
      assert.ok(Object.values(entry).some((a) => typeof a === 'object' && a !== null && (a as { s?: string }).s === 'pending'), 'queued, not yet worked on');
    }
    assert.equal(entries, 40, 'a ledger entry per account, each queued');

    assert.equal((await call('POST', `/v1/waves/${w}/pause`, 'ana', { reason: 'carrier asked' })).json.paused, true);
    assert.equal(codeOf(await call('POST', `/v1/waves/${w}/pause`, 'ana', {})), 'BW_WAVE_STATE', 'already paused');
    assert.equal((await call('POST', `/v1/waves/${w}/resume`, 'cy')).json.paused, false, 'the body is optional');
    const pace = await call('PUT', '/v1/senders/twilio:+15005550006/pace', 'cy', { rate: 2.5 });
    assert.deepEqual(pace.json, { sender: 'twilio:+15005550006', from: null, rate: 2.5 });
    assert.equal((await call('PUT', '/v1/senders/twilio:+15005550006/pace', 'cy', { rate: -1 })).status, 400);
    assert.equal((await call('PUT', '/v1/senders/twilio:+15005550006/pace', 'cy')).status, 400, 'the rate is required');
    const form = await fetch(`${api.url}/v1/senders/x/pace`, { method: 'PUT', headers: { Authorization: `Bearer ${tokens.cy ?? ''}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'rate=3' });
    assert.equal(form.status, 415);

    const report = await call('GET', `/v1/waves/${w}/report?format=csv`, 'vi');
    assert.equal(report.status, 200);
    assert.match(report.headers.get('content-type') ?? '', /text\/csv/);
    assert.equal(report.text.trim().split(/\r\n/).length, 41, 'a header and a row per account');
    assert.match((await call('GET', `/v1/waves/${w}/report?format=md`, 'vi')).text, /#/);
    assert.equal((await call('GET', `/v1/waves/${w}/report?format=pdf`, 'vi')).status, 400);

    const trail = await audit(w);
    const step = (type: string) => trail.find((r) => r.type === type)?.actor;
    assert.equal(step('wave.created'), 'operator:ana');
    assert.equal(step('wave.dry-run'), 'operator:ana');
    assert.equal(step('wave.approval'), 'operator:bo');
    assert.equal(step('wave.feeding'), 'operator:ana');
    assert.equal(step('wave.paused'), 'operator:ana');
    assert.equal(step('wave.resumed'), 'operator:cy');
    assert.ok((await audit()).some((r) => r.type === 'operator.pace.set' && r.actor === 'operator:cy'));
  });

  it('a second start while another process feeds the wave is 409 BW_WAVE_BUSY; cancel ends a wave for good', async () => {
    const w = await makeWave('busy', 20);
    assert.equal((await call('POST', `/v1/waves/${w}/dry-run`, 'ana')).status, 200);
    assert.equal((await call('POST', `/v1/waves/${w}/approve`, 'bo')).status, 200);
    // Another feeder (here: its lease) holds the wave.
    const lease = createLease(redis, ledgerKeys(prefix).feeder(w), 30_000);
    assert.equal((await lease.tryAcquire()).acquired, true);
    const busy = await call('POST', `/v1/waves/${w}/start`, 'ana');
    assert.equal(busy.status, 409);
    assert.equal(codeOf(busy), 'BW_WAVE_BUSY');
    await lease.release();
    const cancelled = await call('POST', `/v1/waves/${w}/cancel`, 'cy', { reason: 'wrong list' });
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.json.status, 'cancelled');
    assert.equal(codeOf(await call('POST', `/v1/waves/${w}/start`, 'ana')), 'BW_WAVE_STATE', 'a cancelled wave is never fed');
    assert.equal(codeOf(await call('POST', `/v1/waves/${w}/resume`, 'ana', {})), 'BW_WAVE_STATE');
    const trail = await audit(w);
    assert.ok(trail.some((r) => r.type === 'wave.cancelled' && r.actor === 'operator:cy'));
    assert.ok(!trail.some((r) => r.type === 'wave.feeding'), 'never fed');
  });
});

describe('the other operations the CLI has', () => {
  it('another uploaded file added to a created wave; its upload removed; an unknown wave refused', async () => {
    const w = await makeWave('adds', 10);
    const file = join(dir, 'more.csv');
    await writeAccountsFile(file, { rows: 6, seed: 99, malformedRate: 0, duplicateRate: 0 });
    const up = await fetch(`${api.url}/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${tokens.cy ?? ''}`, 'Content-Type': 'text/csv' }, body: await readFile(file) });
    assert.equal(up.status, 201);
    const upload = ((await up.json()) as { upload: string }).upload;
    assert.equal(codeOf(await call('POST', '/v1/waves/nope-not-a-wave/accounts', 'cy', { upload })), 'BW_WAVE_NOT_FOUND');
    assert.equal((await call('POST', `/v1/waves/${w}/accounts`, 'cy', {})).status, 400, 'the upload is required');
    const added = await call('POST', `/v1/waves/${w}/accounts`, 'cy', { upload });
    assert.equal(added.status, 200, added.text);
    const ingest = added.json.ingest as { accepted: number; rows: number };
    assert.equal(ingest.rows, 6);
    assert.equal((added.json.stats as { accepted: number }).accepted, 10 + ingest.accepted);
    assert.equal((await ledger.getWave(w)).stats.accepted, 10 + ingest.accepted, 'the wave holds them');
    assert.equal(codeOf(await call('POST', `/v1/waves/${w}/accounts`, 'cy', { upload })), 'BW_UPLOAD_NOT_FOUND', 'the upload is gone once added');
  });

  it('recover, dead letters listed, shown and re-driven, the pace read back: each as the CLI does it, each change audited with the token\'s name', async () => {
    const w = await makeWave('dlq', 10);
    assert.equal((await call('POST', `/v1/waves/${w}/dry-run`, 'ana')).status, 200);
    assert.equal((await call('POST', `/v1/waves/${w}/approve`, 'bo')).status, 200);
    assert.ok([200, 202].includes((await call('POST', `/v1/waves/${w}/start`, 'ana')).status));
    await waitFor(async () => (await ledger.getWave(w)).status === 'fed', { timeout: 15_000 });

    const scan = await call('POST', `/v1/waves/${w}/recover`, 'cy', { dryRun: true });
    assert.equal(scan.status, 200, scan.text);
    assert.equal(scan.json.waveId, w);
    assert.equal(scan.json.dryRun, true);
    assert.equal(scan.json.accounts, 10);
    assert.equal(codeOf(await call('POST', '/v1/waves/nope-not-a-wave/recover', 'cy', {})), 'BW_WAVE_NOT_FOUND');

    // One account's notice fails for good, as a notifier would leave it.
    let victim = '';
    for await (const [id] of ledger.entries(w)) {
      victim = id;
      break;
    }
    const base = { waveId: w, accountId: victim, action: 'notify' as const, actor: 'test' };
    assert.equal((await ledger.transition({ ...base, from: ['pending'], to: 'claimed', event: 'notify.claimed' })).outcome, 'ok');
    assert.equal((await ledger.transition({ ...base, from: ['claimed'], to: 'failed', event: 'notify.failed', patch: { err: 'BW_SMS_INVALID_NUMBER' } })).outcome, 'ok');

    const groups = await call('GET', `/v1/dead-letters?wave=${w}`, 'vi');
    assert.deepEqual(groups.json.groups, [{ action: 'notify', reason: 'BW_SMS_INVALID_NUMBER', count: 1, waves: [w] }]);
    const letters = await call('GET', `/v1/dead-letters/letters?wave=${w}&reason=BW_SMS_INVALID_NUMBER`, 'vi');
    assert.deepEqual((letters.json.letters as { accountId: string; action: string }[]).map((l) => [l.accountId, l.action]), [[victim, 'notify']]);
    assert.equal((await call('GET', '/v1/dead-letters?action=shout', 'vi')).status, 400);
    assert.equal((await call('POST', '/v1/dead-letters/retry', 'cy', { wave: w })).status, 400, 'the reason is required');
    const retried = await call('POST', '/v1/dead-letters/retry', 'cy', { wave: w, reason: 'BW_SMS_INVALID_NUMBER' });
    assert.deepEqual(retried.json, { retried: 1, expired: 0 });
    assert.equal((await ledger.get(w, victim))?.notify?.s, 'pending', 're-driven');
    assert.ok((await audit(w)).some((r) => r.type === 'operator.dlq.retry-batch' && r.actor === 'operator:cy'));

    assert.deepEqual((await call('GET', '/v1/senders/smtp:relay.example.com:25/pace', 'vi')).json, { sender: 'smtp:relay.example.com:25', rate: null });
    assert.equal((await call('PUT', '/v1/senders/smtp:relay.example.com:25/pace', 'cy', { rate: 0 })).status, 400, 'a pace of zero is refused');
    assert.equal((await call('PUT', '/v1/senders/smtp:relay.example.com:25/pace', 'cy', { rate: 12 })).status, 200);
    assert.deepEqual((await call('GET', '/v1/senders/smtp:relay.example.com:25/pace', 'vi')).json, { sender: 'smtp:relay.example.com:25', rate: 12 });
  });

  it('a reminder wave is refused with its reason for a wave that issued no codes, and for an unknown wave; nothing is created', async () => {
    const w = await makeWave('noreminders', 5);
    const before = await ledger.listWaves();
    const none = await call('POST', `/v1/waves/${w}/reminders`, 'cy', { days: 7 });
    assert.equal(none.status, 400);
    assert.equal(codeOf(none), 'BW_INPUT_INVALID');
    assert.match(String((none.json.error as { message: string }).message), /issued no enrollment codes/);
    assert.equal((await call('POST', `/v1/waves/${w}/reminders`, 'cy', { days: -1 })).status, 400);
    assert.equal(codeOf(await call('POST', '/v1/waves/nope-not-a-wave/reminders', 'cy', { days: 7 })), 'BW_WAVE_NOT_FOUND');
    assert.deepEqual(await ledger.listWaves(), before);
  });
});

describe('OpenAPI', () => {
  it('describes every wave route with its security requirement and role', async () => {
    const res = await call('GET', OPENAPI_PATH, 'vi');
    assert.equal(res.status, 200);
    const doc = res.json as { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; 'x-breachwave-role'?: string }>>; components: { securitySchemes: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.components.securitySchemes.bearer);
    const expected: [string, string, string][] = [
      ['get', '/v1/waves', 'viewer'],
      ['post', '/v1/waves', 'operator'],
      ['post', '/v1/uploads', 'operator'],
      ['delete', '/v1/uploads/{id}', 'operator'],
      ['get', '/v1/waves/{id}/rejects', 'operator'],
      ['get', '/v1/waves/{id}', 'viewer'],
      ['post', '/v1/waves/{id}/dry-run', 'operator'],
      ['post', '/v1/waves/{id}/approve', 'approver'],
      ['post', '/v1/waves/{id}/start', 'operator'],
      ['post', '/v1/waves/{id}/pause', 'operator'],
      ['post', '/v1/waves/{id}/resume', 'operator'],
      ['post', '/v1/waves/{id}/cancel', 'operator'],
      ['get', '/v1/waves/{id}/report', 'viewer'],
      ['put', '/v1/senders/{id}/pace', 'operator'],
      ['get', '/v1/senders/{id}/pace', 'viewer'],
      ['post', '/v1/waves/{id}/accounts', 'operator'],
      ['post', '/v1/waves/{id}/recover', 'operator'],
      ['post', '/v1/waves/{id}/reminders', 'operator'],
      ['get', '/v1/dead-letters', 'viewer'],
      ['get', '/v1/dead-letters/letters', 'viewer'],
      ['post', '/v1/dead-letters/retry', 'operator'],
      ['post', '/v1/tokens', 'admin'],
    ];
    for (const [method, path, role] of expected) {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method} ${path} is described`);
      assert.deepEqual(op.security, [{ bearer: [] }], `${method} ${path} security`);
      assert.equal(op['x-breachwave-role'], role, `${method} ${path} role`);
    }
    const progressSchema = (doc.paths['/v1/waves/{id}']?.get as { responses?: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, { properties?: Record<string, unknown> }> } }> }> } | undefined)
      ?.responses?.['200']?.content?.['application/json']?.schema;
    assert.deepEqual(Object.keys(progressSchema?.properties?.clock?.properties ?? {}).sort(),
      ['atRisk', 'deadline', 'etaSeconds', 'idleSeconds', 'notifiedPct', 'projectedFinish', 'ratePerSecond', 'stuck', 'timeLeftSeconds'], 'the clock is described');
    assert.deepEqual(doc.paths['/healthz']?.get?.security, []);
    assert.equal((await call('GET', OPENAPI_PATH)).status, 401);
  });
});
