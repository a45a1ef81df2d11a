import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BreachwaveError, ERROR_CATALOG, rotationIdOf, type ErrorCode, type PinRotationRequest } from '@breachwave/domain';
import { createBssPinStore, mapBssStatus, mapBssTransportError } from './index.js';
import { startFakeBss, type FakeBss } from './testing/fake-bss.js';

const TOKEN = 'bss-test-token';
const PIN = '738294';

function request(accountId: string, pin = PIN): PinRotationRequest {
  return { rotationId: rotationIdOf('w1', accountId), waveId: 'w1', accountId, pin };
}

async function rejects(p: Promise<unknown>, code: ErrorCode): Promise<BreachwaveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BreachwaveError, `a catalog error, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.kind, ERROR_CATALOG[code].kind);
    assert.ok(!err.message.includes(PIN) && !JSON.stringify(err).includes(PIN), 'no PIN in the error');
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('BSS PIN store against a fake BSS', () => {
  let bss: FakeBss;
  before(async () => {
    bss = await startFakeBss({ token: TOKEN, unknownAccounts: ['GONE-1'] });
  });
  after(async () => {
    await bss.close();
  });

  it('applies once; a duplicate request is a replay; the same key with another PIN is a conflict', async () => {
    const store = createBssPinStore({ url: bss.url, token: TOKEN, timeoutMs: 2000 });
    assert.deepEqual(await store.apply(request('A-1')), { outcome: 'applied', store: 'bss' });
    assert.deepEqual(await store.apply(request('A-1')), { outcome: 'replayed', store: 'bss' });
    assert.deepEqual(await store.apply(request('A-1', '620417')), { outcome: 'conflict', store: 'bss' });
    assert.equal(bss.appliedCount('A-1'), 1);
    assert.equal(bss.pinOf('A-1'), PIN);
    const seen = bss.requests.filter((r) => r.accountId === 'A-1');
    assert.deepEqual(seen.map((r) => r.idempotencyKey), Array(3).fill('rot.w1.A-1'), 'the idempotency key is the rotation id');
    assert.ok(!JSON.stringify(bss.requests).includes(PIN), 'the fake records no PIN');
  });

  it('a 5xx is transient and the retry applies exactly once', async () => {
    const store = createBssPinStore({ url: bss.url, token: TOKEN });
    bss.fault({ kind: 'status', status: 503 }, { accountId: 'A-2' });
    await rejects(store.apply(request('A-2')), 'BW_PIN_STORE_UNAVAILABLE');
    assert.equal(bss.appliedCount('A-2'), 0);
    assert.equal((await store.apply(request('A-2'))).outcome, 'applied');
    assert.equal(bss.appliedCount('A-2'), 1);
  });

  it('a reset after the BSS applied is ambiguous, and the retry is a replay', async () => {
    const store = createBssPinStore({ url: bss.url, token: TOKEN });
    bss.fault({ kind: 'reset-after-apply' }, { accountId: 'A-3' });
    await rejects(store.apply(request('A-3')), 'BW_PIN_STORE_AMBIGUOUS');
    assert.equal(bss.appliedCount('A-3'), 1);
    assert.equal((await store.apply(request('A-3'))).outcome, 'replayed');
    assert.equal(bss.appliedCount('A-3'), 1);
  });

  it('a hung request times out as ambiguous', async () => {
    const store = createBssPinStore({ url: bss.url, token: TOKEN, timeoutMs: 150 });
    bss.fault({ kind: 'hang' }, { accountId: 'A-4' });
    const err = await rejects(store.apply(request('A-4')), 'BW_PIN_STORE_AMBIGUOUS');
    assert.equal(err.providerCode, 'timeout');
    assert.equal((await store.apply(request('A-4'))).outcome, 'applied');
  });

  it('maps 4xx to permanent or config errors and 429 to throttled', async () => {
    const store = createBssPinStore({ url: bss.url, token: TOKEN });
    const e404 = await rejects(store.apply(request('GONE-1')), 'BW_PIN_STORE_ACCOUNT_UNKNOWN');
    assert.equal(e404.providerCode, '404 account_not_found');
    await rejects(createBssPinStore({ url: bss.url, token: 'wrong' }).apply(request('A-5')), 'BW_PIN_STORE_AUTH');
    bss.fault({ kind: 'status', status: 429 }, { accountId: 'A-5' });
    await rejects(store.apply(request('A-5')), 'BW_PIN_STORE_THROTTLED');
    bss.fault({ kind: 'status', status: 400 }, { accountId: 'A-5' });
    await rejects(store.apply(request('A-5')), 'BW_PIN_STORE_REJECTED');
    assert.equal(bss.appliedCount('A-5'), 0);
  });

  it('a refused connection is a transient network error (nothing was sent)', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    await rejects(createBssPinStore({ url: `http://127.0.0.1:${port}/pins` }).apply(request('A-6')), 'BW_PIN_STORE_NETWORK');
  });

  it('never copies the BSS answer into the error (it could echo the PIN)', async () => {
    const echo = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(422, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'pin_not_allowed', message: `PIN ${body} refused` }));
      });
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const { port } = echo.address() as AddressInfo;
    try {
      const err = await rejects(createBssPinStore({ url: `http://127.0.0.1:${port}/` }).apply(request('A-7')), 'BW_PIN_STORE_REJECTED');
      assert.equal(err.providerCode, '422 pin_not_allowed');
    } finally {
      await new Promise<void>((r) => echo.close(() => r()));
    }
  });
});

describe('BSS error mapping', () => {
  it('maps statuses', () => {
    const cases: [number, ErrorCode][] = [
      [400, 'BW_PIN_STORE_REJECTED'], [401, 'BW_PIN_STORE_AUTH'], [403, 'BW_PIN_STORE_AUTH'], [404, 'BW_PIN_STORE_ACCOUNT_UNKNOWN'],
      [408, 'BW_PIN_STORE_AMBIGUOUS'], [409, 'BW_PIN_STORE_REJECTED'], [429, 'BW_PIN_STORE_THROTTLED'],
      [500, 'BW_PIN_STORE_UNAVAILABLE'], [502, 'BW_PIN_STORE_UNAVAILABLE'], [503, 'BW_PIN_STORE_UNAVAILABLE'],
    ];
    for (const [status, code] of cases) assert.equal(mapBssStatus(status).code, code, String(status));
  });

  it('maps transport errors by when they happened', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    const reset = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    assert.equal(mapBssTransportError(refused).code, 'BW_PIN_STORE_NETWORK');
    assert.equal(mapBssTransportError(reset).code, 'BW_PIN_STORE_AMBIGUOUS');
    assert.equal(mapBssTransportError(timeout).code, 'BW_PIN_STORE_AMBIGUOUS');
  });
});
