import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { rotationIdOf } from '@breachwave/domain';
import type { AuditInput } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { acquireRedis, captureLog, type TestRedis } from '@breachwave/testkit';
import { createPinVerificationHandler } from './http.js';
import { createClientRateLimiter } from './rate-limit.js';
import { createVaultPinStore } from './vault.js';
import { createVerifierKeyring } from './verifier.js';
import { createPinVerificationService, type PinVerificationService } from './verify.js';

const TOKEN = randomBytes(24).toString('base64url');
const PIN = '738294';
const WRONG = '583927';

let server: TestRedis;
let redis: Redis;
let http1: http.Server;
let base: string;
let prefix: string;
let clock = Date.UTC(2026, 0, 1);
const audit: AuditInput[] = [];
const logs = captureLog('pin-http-test');

before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
  prefix = `pinhttp${randomBytes(3).toString('hex')}`;
  const keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
  await createVaultPinStore({ redis, prefix, keyring }).apply({ rotationId: rotationIdOf('w1', 'A-1'), waveId: 'w1', accountId: 'A-1', pin: PIN });
  const service = createPinVerificationService({ redis, prefix, keyring, maxFailures: 100, backoffAfter: 2, backoffBaseMs: 30_000, now: () => clock, audit: async (r) => void audit.push(r) });
  const handler = createPinVerificationHandler({ service, token: TOKEN, log: logs.log });
  http1 = http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => http1.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http1.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((r) => http1.close(() => r()));
  await redis.quit();
  await server.stop();
});

async function post(body: unknown, opts: { token?: string | null; path?: string; method?: string; to?: string } = {}): Promise<{ status: number; json: Record<string, unknown>; retryAfter?: string }> {
  const token = opts.token === undefined ? TOKEN : opts.token;
  const res = await fetch(`${opts.to ?? base}${opts.path ?? '/v1/pins/verify'}`, {
    method: opts.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(opts.method === 'GET' ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const retryAfter = res.headers.get('retry-after');
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, ...(retryAfter ? { retryAfter } : {}) };
}

describe('POST /v1/pins/verify', () => {
  it('answers 200 with the verification result; a made-up account gets exactly what a wrong PIN gets', async () => {
    assert.deepEqual(await post({ accountId: 'A-1', pin: PIN, waveId: 'w1' }), { status: 200, json: { verified: true } });
    assert.deepEqual(await post({ accountId: 'A-1', pin: WRONG }), { status: 200, json: { verified: false } });
    assert.deepEqual(await post({ accountId: 'nobody-here', pin: WRONG }), { status: 200, json: { verified: false } });
    assert.deepEqual(await redis.keys(`${prefix}:pin:*:nobody-here`), [], 'and leaves no key for it');
  });

  it('answers 429 BW_PIN_THROTTLED with Retry-After during a wait, and verifies after it', async () => {
    assert.deepEqual(await post({ accountId: 'A-1', pin: WRONG }), { status: 200, json: { verified: false } });
    const early = await post({ accountId: 'A-1', pin: PIN });
    assert.equal(early.status, 429);
    assert.equal((early.json.error as { code: string }).code, 'BW_PIN_THROTTLED');
    assert.equal(early.retryAfter, '30');
    assert.equal(early.json.retryAfterSeconds, 30);
    clock += 30_000;
    assert.deepEqual(await post({ accountId: 'A-1', pin: PIN }), { status: 200, json: { verified: true } });
  });

  it('answers 429 BW_RATE_LIMITED once one client passes its limit, whichever accounts it asks about', async () => {
    const keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
    const own = `pinrl${randomBytes(3).toString('hex')}`;
    const service = createPinVerificationService({ redis, prefix: own, keyring, maxFailures: 100, audit: async () => {} });
    // A window far longer than the test, so a slow machine cannot split the burst across two.
    const rateLimiter = createClientRateLimiter({ redis, prefix: own, limit: 3, windowMs: 600_000 });
    const handler = createPinVerificationHandler({ service, token: TOKEN, log: logs.log, rateLimiter });
    const s = http.createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const to = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await post({ accountId: `sweep-${i}`, pin: WRONG }, { to }));
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 429, 429]);
      assert.equal((answers[3]?.json.error as { code: string }).code, 'BW_RATE_LIMITED');
      assert.ok(Number(answers[3]?.retryAfter) > 0);
      const rl = await redis.keys(`${own}:*`);
      assert.equal(rl.length, 1, 'one counter for the client, none per account');
      assert.ok(!rl[0]?.includes(TOKEN) && !rl[0]?.includes('127.0.0.1'), 'the key holds neither the token nor the address');
      assert.equal((await post({ accountId: 'A-1', pin: PIN }, { token: 'wrong-token', to })).status, 401, 'an unauthenticated caller is refused before it is counted');
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('refuses requests without the bearer token', async () => {
    for (const token of [null, 'wrong-token']) {
      const r = await post({ accountId: 'A-1', pin: PIN }, { token });
      assert.equal(r.status, 401);
      assert.equal((r.json.error as { code: string }).code, 'BW_PIN_VERIFY_UNAUTHORIZED');
    }
  });

  it('answers 400 naming the bad field, never echoing the PIN', async () => {
    const cases: [unknown, RegExp][] = [
      ['{not json', /JSON/],
      [{ pin: PIN }, /accountId/],
      [{ accountId: 'A-1' }, /pin/],
      [{ accountId: 'A-1', pin: '12ab56' }, /pin must be 6–12 digits/],
      [{ accountId: 'A-1', pin: 738294 }, /pin/],
      [{ accountId: 'A 1', pin: PIN }, /accountId/],
      [{ accountId: 'A-1', pin: PIN, extra: 1 }, /extra/],
      [{ accountId: 'A-1', pin: PIN, waveId: 'bad wave' }, /waveId/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const error = r.json.error as { code: string; message: string };
      assert.equal(error.code, 'BW_INPUT_INVALID');
      assert.match(error.message, message);
      assert.ok(!error.message.includes(PIN) && !error.message.includes('12ab56'));
    }
  });

  it('answers 404, 405 and 413 for the wrong path, method or size', async () => {
    assert.equal((await post({ accountId: 'A-1', pin: PIN }, { path: '/v1/pins/other' })).status, 404);
    assert.equal((await post(undefined, { method: 'GET' })).status, 405);
    assert.equal((await post({ accountId: 'A-1', pin: PIN, pad: 'x'.repeat(10_000) })).status, 413);
  });

  it('logs and audits no PIN', () => {
    for (const pin of [PIN, WRONG]) {
      assert.ok(!logs.text().includes(pin), 'not in the log');
      assert.ok(!JSON.stringify(audit).includes(pin), 'not in the audit');
    }
    assert.ok(logs.text().includes('PIN verification'), 'the log is the real one');
    assert.ok(!logs.text().includes(TOKEN), 'no token in the log');
    assert.ok(audit.some((a) => (a.detail as { result?: string }).result === 'mismatch'));
  });

  it('answers 503 when verification cannot run', async () => {
    const failing: Pick<PinVerificationService, 'verify'> = { verify: async () => { throw new Error('Connection is closed.'); } };
    const handler = createPinVerificationHandler({ service: failing, token: TOKEN, log: createLogger({ name: 't', level: 'silent' }) });
    const s = http.createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/v1/pins/verify`, {
        method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ accountId: 'A-1', pin: PIN }),
      });
      assert.equal(res.status, 503);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
