import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BreachwaveError, createPinPolicy, type PinApplyResult, type PinRotationRequest, type PinStore } from '@breachwave/domain';
import { PermanentActionError, createActionQueues, type ActionJobView, type ActionQueues } from '@breachwave/actions';
import { silentLogger } from '@breachwave/logging';
import { acquireRedis, dumpRedis, type TestRedis } from '@breachwave/testkit';
import { createPinHold, type PinHold } from './hold.js';
import { createPinRotationProcessor, type PinRotationDeps } from './rotation.js';
import { auditRecords, containsPin, createRotationWave, testEnvelope, type WaveFixture } from './test-support.js';
import { createVaultPinStore, type VaultPinStore } from './vault.js';
import { createVerifierKeyring, type VerifierKeyring } from './verifier.js';

let server: TestRedis;
let redis: Redis;
let prefix: string;
let queues: ActionQueues;
let keyring: VerifierKeyring;
let vault: VaultPinStore;
let hold: PinHold;
const log = silentLogger();
const noDefer = async (): Promise<never> => {
  throw new Error('this step never defers');
};

before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
  prefix = `pinrot${randomBytes(3).toString('hex')}`;
  queues = createActionQueues({ connection: { url: server.url, maxRetriesPerRequest: null } as never, prefix });
  keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
  vault = createVaultPinStore({ redis, prefix, keyring });
  hold = createPinHold({ redis, prefix, envelope: testEnvelope(), ttlSeconds: 600 });
});
after(async () => {
  await queues.close();
  await redis.quit();
  await server.stop();
});

const job = (w: WaveFixture, accountId: string, attemptsMade = 0): ActionJobView => ({ id: `rotate-pin.${w.waveId}.${accountId}`, data: { waveId: w.waveId, accountId }, attemptsMade, attempts: 8, defer: noDefer });

function processorFor(w: WaveFixture, store: PinStore = vault, extra: Partial<PinRotationDeps> = {}) {
  return createPinRotationProcessor({ ledger: w.ledger, queues, log, envelope: w.envelope, hold, store, previous: (a) => vault.previousMatcher(a), ...extra });
}

/** A store that stops forever at `at`, like a process killed there; `reached` settles when it gets there. */
function dyingStore(at: 'before-store' | 'after-store') {
  let reached!: () => void;
  const where = new Promise<void>((r) => (reached = r));
  const store: PinStore = {
    name: 'vault',
    async apply(req: PinRotationRequest): Promise<PinApplyResult> {
      if (at === 'after-store') await vault.apply(req);
      reached();
      return new Promise<never>(() => {});
    },
  };
  return { store, reached: where };
}

async function assertStoredEqualsHeld(w: WaveFixture, accountId: string): Promise<string> {
  const pin = await hold.open(w.waveId, accountId);
  assert.ok(pin, `a PIN is held for ${accountId}`);
  const rec = await vault.read(accountId);
  assert.equal(rec?.verifier, keyring.compute(accountId, pin, rec?.keyId), 'the held PIN is the stored PIN');
  return pin;
}

describe('rotate-pin processor', () => {
  it('rotates once, holds a temporary PIN only for accounts SMS can reach, and queues the notice', async () => {
    const id = randomBytes(2).toString('hex');
    const [mobile, emailOnly, landline] = [`M-${id}`, `E-${id}`, `L-${id}`];
    const w = await createRotationWave(redis, prefix, 'sms-temporary', [
      { accountId: mobile, phone: '+12025550143', email: 'ana@example.com' },
      { accountId: emailOnly, email: 'bo@example.com' },
      { accountId: landline, phone: '+12025550144', phoneIsMobile: false, email: 'cy@example.com' },
    ]);
    const process = processorFor(w);
    for (const a of [mobile, emailOnly, landline]) assert.deepEqual(await process(job(w, a)), { status: 'done', next: 'notify' });

    const pin = await assertStoredEqualsHeld(w, mobile);
    assert.equal(pin.length, 6);
    assert.equal(await hold.open(w.waveId, emailOnly), undefined, 'no temporary PIN waits for an email-only account');
    assert.equal(await hold.open(w.waveId, landline), undefined);
    for (const a of [mobile, emailOnly, landline]) {
      const entry = await w.ledger.get(w.waveId, a);
      assert.equal(entry?.['rotate-pin']?.s, 'done');
      assert.equal(entry?.['rotate-pin']?.rot, `rot.${w.waveId}.${a}`);
      assert.equal(entry?.['rotate-pin']?.dl, a === mobile ? 'sms-temporary' : 'none');
      assert.equal((await vault.read(a))?.applied, 1);
      assert.ok(await queues.queueFor('notify').getJob(`notify.${w.waveId}.${a}`), `notice queued for ${a}`);
    }
    const done = (await auditRecords(redis, prefix)).filter((x) => x.r.type === 'rotate-pin.done' && x.r.account === mobile);
    assert.equal(done.length, 1);
    assert.ok(!containsPin(await dumpRedis(redis, prefix), pin), 'the PIN is nowhere in Redis in clear');

    assert.deepEqual(await process(job(w, mobile)), { status: 'already-finished', state: 'done' }, 'a replayed job does nothing');
    assert.equal((await vault.read(mobile))?.applied, 1);
  });

  for (const at of ['before-store', 'after-store'] as const) {
    it(`a rotation that dies ${at.replace('-', ' the ')} call ends with one applied rotation of the held PIN`, async () => {
      const accountId = `C-${randomBytes(3).toString('hex')}`;
      const w = await createRotationWave(redis, prefix, 'sms-temporary', [{ accountId, phone: '+13125550199' }]);
      const dying = dyingStore(at);
      void processorFor(w, dying.store)(job(w, accountId));
      await dying.reached;
      const before = await hold.open(w.waveId, accountId);
      assert.ok(before);

      // The stalled job runs again in another process.
      assert.deepEqual(await processorFor(w)(job(w, accountId)), { status: 'done', next: 'notify' });
      const entry = await w.ledger.get(w.waveId, accountId);
      assert.equal(entry?.['rotate-pin']?.n, 2, 'the re-claim is visible');
      assert.equal((await vault.read(accountId))?.applied, 1, 'exactly one rotation applied');
      assert.equal(await assertStoredEqualsHeld(w, accountId), before, 'the retry used the PIN the first attempt drew');
      const done = (await auditRecords(redis, prefix)).find((x) => x.r.type === 'rotate-pin.done' && x.r.account === accountId);
      assert.deepEqual((done?.r.detail as { outcome: string; reusedHeldPin: boolean }).outcome, at === 'after-store' ? 'replayed' : 'applied');
      assert.equal((done?.r.detail as { reusedHeldPin: boolean }).reusedHeldPin, true);
    });
  }

  it('when the held PIN is lost after the store applied, the retry sends no temporary PIN (never a second PIN)', async () => {
    const accountId = `X-${randomBytes(3).toString('hex')}`;
    const w = await createRotationWave(redis, prefix, 'sms-temporary', [{ accountId, phone: '+13125550198' }]);
    const dying = dyingStore('after-store');
    void processorFor(w, dying.store)(job(w, accountId));
    await dying.reached;
    const verifier = (await vault.read(accountId))?.verifier;
    await hold.wipe(w.waveId, accountId);

    assert.equal((await processorFor(w)(job(w, accountId))).status, 'done');
    const entry = await w.ledger.get(w.waveId, accountId);
    assert.equal(entry?.['rotate-pin']?.dl, 'none', 'the notice will use the reset wording');
    assert.equal(await hold.open(w.waveId, accountId), undefined);
    assert.equal((await vault.read(accountId))?.verifier, verifier, 'the first PIN stays applied');
    assert.equal((await vault.read(accountId))?.applied, 1);
  });

  it('a wave without PIN delivery keeps no PIN once the store applied it', async () => {
    const accountId = `N-${randomBytes(3).toString('hex')}`;
    const w = await createRotationWave(redis, prefix, 'none', [{ accountId, phone: '+13125550197' }]);
    assert.equal((await processorFor(w)(job(w, accountId))).status, 'done');
    assert.equal((await w.ledger.get(w.waveId, accountId))?.['rotate-pin']?.dl, 'none');
    assert.equal(await hold.open(w.waveId, accountId), undefined);
    assert.equal((await vault.read(accountId))?.applied, 1);
  });

  it('a transient store failure keeps the held PIN for the retry; a permanent one fails the account and skips its notice', async () => {
    const id = randomBytes(2).toString('hex');
    const [flaky, gone] = [`T-${id}`, `G-${id}`];
    const w = await createRotationWave(redis, prefix, 'sms-temporary', [{ accountId: flaky, phone: '+13125550196' }, { accountId: gone, phone: '+13125550195' }]);
    const failing = (code: 'BW_PIN_STORE_UNAVAILABLE' | 'BW_PIN_STORE_ACCOUNT_UNKNOWN'): PinStore => ({ name: 'bss', apply: async () => { throw new BreachwaveError(code, { providerCode: '503' }); } });

    await assert.rejects(processorFor(w, failing('BW_PIN_STORE_UNAVAILABLE'))(job(w, flaky)), (e: BreachwaveError) => e.code === 'BW_PIN_STORE_UNAVAILABLE');
    assert.equal((await w.ledger.get(w.waveId, flaky))?.['rotate-pin']?.s, 'pending');
    const held = await hold.open(w.waveId, flaky);
    assert.ok(held);
    assert.equal((await processorFor(w)(job(w, flaky, 1))).status, 'done');
    assert.equal(await assertStoredEqualsHeld(w, flaky), held);

    await assert.rejects(processorFor(w, failing('BW_PIN_STORE_ACCOUNT_UNKNOWN'))(job(w, gone)), (e: unknown) => e instanceof PermanentActionError && e.error.code === 'BW_PIN_STORE_ACCOUNT_UNKNOWN');
    const entry = await w.ledger.get(w.waveId, gone);
    assert.equal(entry?.['rotate-pin']?.s, 'failed');
    assert.equal(entry?.['rotate-pin']?.err, 'BW_PIN_STORE_ACCOUNT_UNKNOWN');
    assert.equal(entry?.notify?.s, 'skipped', 'no "your PIN was reset" notice');
    assert.equal(await hold.open(w.waveId, gone), undefined, 'the held PIN is wiped');
    assert.equal(await queues.queueFor('notify').getJob(`notify.${w.waveId}.${gone}`), undefined);
  });

  it('a throttled store (429) makes the rotation wait without spending attempts, even the last one, up to maxThrottles', async () => {
    const id = randomBytes(2).toString('hex');
    const [slow, stuck] = [`S-${id}`, `X-${id}`];
    const w = await createRotationWave(redis, prefix, 'sms-temporary', [{ accountId: slow, phone: '+13125550193' }, { accountId: stuck, phone: '+13125550192' }]);
    const throttled: PinStore = { name: 'bss', apply: async () => { throw new BreachwaveError('BW_PIN_STORE_THROTTLED', { providerCode: '429' }); } };
    class Waited extends Error {}
    const delays: number[] = [];
    // The last attempt of eight: a failure here would fail the account for good.
    const lastAttempt = (accountId: string): ActionJobView => ({
      ...job(w, accountId, 7),
      defer: async (ms: number): Promise<never> => {
        delays.push(ms);
        throw new Waited();
      },
    });

    await assert.rejects(processorFor(w, throttled)(lastAttempt(slow)), Waited);
    const held = await hold.open(w.waveId, slow);
    assert.ok(held, 'the held PIN is kept while the rotation waits');
    await assert.rejects(processorFor(w, throttled)(lastAttempt(slow)), Waited);
    const waiting = await w.ledger.get(w.waveId, slow);
    assert.equal(waiting?.['rotate-pin']?.s, 'pending', 'not failed: it waits');
    assert.equal(waiting?.['rotate-pin']?.thr, 2);
    assert.equal(waiting?.['rotate-pin']?.err, 'BW_PIN_STORE_THROTTLED');
    assert.equal(waiting?.notify?.s, 'pending', 'its notice still waits for the rotation');
    const [first, second] = delays;
    assert.ok(first !== undefined && first >= 500 && first <= 1000, `first wait ${String(first)} ms`);
    assert.ok(second !== undefined && second >= 1000 && second <= 2000, `the wait grows: ${String(second)} ms`);
    const throttles = (await auditRecords(redis, prefix)).filter((x) => x.r.type === 'rotate-pin.throttled' && x.r.account === slow);
    assert.equal(throttles.length, 2, 'each throttle is in the audit trail');
    assert.equal((await processorFor(w)(job(w, slow, 7))).status, 'done', 'once the store answers, the rotation is applied');
    assert.equal(await assertStoredEqualsHeld(w, slow), held, 'with the PIN held since the first try');

    // Past maxThrottles a throttle is an ordinary failure: on the last attempt, the account fails.
    const capped = processorFor(w, throttled, { maxThrottles: 1 });
    await assert.rejects(capped(lastAttempt(stuck)), Waited);
    await assert.rejects(capped(lastAttempt(stuck)), (e: unknown) => e instanceof PermanentActionError && e.error.code === 'BW_PIN_STORE_THROTTLED');
    const failed = await w.ledger.get(w.waveId, stuck);
    assert.equal(failed?.['rotate-pin']?.s, 'failed');
    assert.equal(failed?.notify?.s, 'skipped');
    assert.equal(await hold.open(w.waveId, stuck), undefined, 'failed for good: the held PIN is wiped');
  });

  it('never draws the account\'s current PIN or its phone digits, and honours the configured length', async () => {
    const accountId = `P-${randomBytes(3).toString('hex')}`;
    const first = await createRotationWave(redis, prefix, 'none', [{ accountId, phone: '+13125550194' }]);
    assert.equal((await processorFor(first, vault, { random: () => 738294 })(job(first, accountId))).status, 'done');
    const second = await createRotationWave(redis, prefix, 'sms-temporary', [{ accountId, phone: '+13125550194' }]);
    const draws = [738294, 550194, 583927];
    const seen: number[] = [];
    const random = () => {
      const v = draws[seen.length] ?? 0;
      seen.push(v);
      return v;
    };
    assert.equal((await processorFor(second, vault, { random })(job(second, accountId))).status, 'done');
    assert.deepEqual(seen, draws, 'the previous PIN and the phone digits were redrawn');
    assert.equal(await hold.open(second.waveId, accountId), '583927');
    assert.equal((await vault.read(accountId))?.applied, 2, 'one rotation per wave');

    const eight = await createRotationWave(redis, prefix, 'sms-temporary', [{ accountId: `${accountId}-8`, phone: '+13125550193' }]);
    await processorFor(eight, vault, { policy: createPinPolicy({ length: 8 }) })(job(eight, `${accountId}-8`));
    assert.equal((await hold.open(eight.waveId, `${accountId}-8`))?.length, 8);
  });
});
