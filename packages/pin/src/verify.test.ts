import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rotationIdOf, type BreachwaveError } from '@breachwave/domain';
import type { AuditInput } from '@breachwave/ledger';
import { useRedis } from '@breachwave/testkit';
import { pinKeys } from './keys.js';
import { createVaultPinStore } from './vault.js';
import { createVerifierKeyring } from './verifier.js';
import { createPinVerificationService, unlockPinVerification, type PinVerificationDeps } from './verify.js';

const db = useRedis();

const PIN = '738294';
const DAY = 86_400_000;

/** A clock the test moves by hand: waits and windows are measured with it, never slept through. */
function manualClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

async function setup(options: Partial<Omit<PinVerificationDeps, 'redis' | 'prefix' | 'keyring' | 'audit'>> = {}, keys = [{ id: 'v1', key: randomBytes(32) }]) {
  const prefix = `verify${randomBytes(3).toString('hex')}`;
  const keyring = createVerifierKeyring(keys);
  const vault = createVaultPinStore({ redis: db.redis, prefix, keyring });
  const audit: AuditInput[] = [];
  const clock = manualClock();
  const service = createPinVerificationService({ redis: db.redis, prefix, keyring, maxFailures: 100, now: clock.now, ...options, audit: async (r) => void audit.push(r) });
  return { prefix, keyring, vault, audit, clock, service };
}

const results = (audit: AuditInput[]) => audit.map((a) => [a.type, (a.detail as { result?: string } | undefined)?.result]);

describe('PIN verification', () => {
  it('verifies the stored PIN; a mismatch fails; both audited without the PIN', async () => {
    const { vault, audit, service } = await setup();
    await vault.apply({ rotationId: rotationIdOf('w1', 'A-1'), waveId: 'w1', accountId: 'A-1', pin: PIN });
    const ask = (pin: string) => service.verify({ accountId: 'A-1', pin, waveId: 'w1', actor: 'ivr' });

    assert.deepEqual(await ask(PIN), { verified: true, outcome: 'verified' });
    assert.deepEqual(await ask('583927'), { verified: false, outcome: 'mismatch' });
    assert.deepEqual(await ask(PIN), { verified: true, outcome: 'verified' });
    assert.deepEqual(results(audit), [['pin.verify', 'verified'], ['pin.verify', 'mismatch'], ['pin.verify', 'verified']]);
    assert.ok(audit.every((a) => a.actor === 'ivr' && a.account === 'A-1' && a.wave === 'w1'));
    const text = JSON.stringify(audit);
    assert.ok(!text.includes(PIN) && !text.includes('583927'), 'no PIN in the audit');
  });

  it("an attacker's 10 wrong tries only delay the owner: the right PIN verifies once the wait is over", async () => {
    const { vault, audit, service, clock } = await setup({ maxFailures: 100, backoffAfter: 5, backoffBaseMs: 1000, backoffMaxMs: 900_000 });
    await vault.apply({ rotationId: rotationIdOf('w1', 'V-1'), waveId: 'w1', accountId: 'V-1', pin: PIN });
    const attacker = (pin: string) => service.verify({ accountId: 'V-1', pin, actor: 'ivr' });
    const owner = () => service.verify({ accountId: 'V-1', pin: PIN, actor: 'care' });

    // Ten wrong PINs, each sent as soon as it is allowed: the first five at once, then waits of 1, 2, 4, 8, 16 s.
    const waits: number[] = [];
    let compared = 0;
    while (compared < 10) {
      const r = await attacker(String(100000 + compared));
      if (r.outcome === 'throttled') {
        waits.push(r.retryAfterMs ?? 0);
        clock.advance(r.retryAfterMs ?? 0);
        continue;
      }
      assert.equal(r.outcome, 'mismatch');
      compared++;
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000], 'each failure after the fifth doubles the wait');

    const early = await owner();
    assert.deepEqual(early, { verified: false, outcome: 'throttled', retryAfterMs: 32_000 }, 'during the wait even the right PIN is not checked');
    clock.advance(31_999);
    assert.equal((await owner()).outcome, 'throttled');
    clock.advance(1);
    assert.deepEqual(await owner(), { verified: true, outcome: 'verified' }, 'after the wait the owner verifies: no lockout');

    assert.equal(audit.filter((a) => (a.detail as { result?: string }).result === 'mismatch').length, 10, 'throttled tries are neither counted nor audited');
    assert.equal(audit.filter((a) => a.type === 'pin.locked').length, 0);
    assert.equal((await attacker('111111')).outcome, 'mismatch', 'the success started the waits over');
  });

  it('waits stop growing at the maximum; at the cap the account locks until the oldest failure leaves the window', async () => {
    const { vault, audit, service, clock, prefix } = await setup({ maxFailures: 8, backoffAfter: 2, backoffBaseMs: 1000, backoffMaxMs: 5000, failureWindowMs: DAY });
    await vault.apply({ rotationId: rotationIdOf('w1', 'L-1'), waveId: 'w1', accountId: 'L-1', pin: PIN });
    const ask = (pin: string) => service.verify({ accountId: 'L-1', pin, actor: 'ivr' });
    const waits: number[] = [];
    for (let failures = 0; failures < 8;) {
      const r = await ask('000001');
      if (r.outcome === 'throttled') {
        waits.push(r.retryAfterMs ?? 0);
        clock.advance(r.retryAfterMs ?? 0);
      } else {
        assert.equal(r.outcome, 'mismatch');
        failures++;
      }
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 5000, 5000, 5000], 'doubling from the second failure, capped at the maximum');
    const locked = await ask(PIN);
    assert.equal(locked.outcome, 'locked', 'locked at the cap: even the right PIN is refused');
    assert.ok((locked.retryAfterMs ?? 0) > 0 && (locked.retryAfterMs ?? 0) <= DAY, 'and says when it ends');
    assert.equal(audit.filter((a) => a.type === 'pin.locked').length, 1);
    assert.ok((await db.redis.pttl(pinKeys(prefix).failureLog('L-1'))) > 0, 'the failure log expires by itself');

    clock.advance(locked.retryAfterMs ?? 0);
    assert.deepEqual(await ask(PIN), { verified: true, outcome: 'verified' }, 'the lock lifts by itself once the oldest failure leaves the window');
  });

  it('a success does not hand a guesser a fresh budget: failures in the window still count toward the cap', async () => {
    const { vault, service } = await setup({ maxFailures: 3, backoffAfter: 100 });
    await vault.apply({ rotationId: rotationIdOf('w1', 'S-1'), waveId: 'w1', accountId: 'S-1', pin: PIN });
    const ask = (pin: string) => service.verify({ accountId: 'S-1', pin, actor: 'ivr' });
    assert.equal((await ask('000001')).outcome, 'mismatch');
    assert.equal((await ask('000002')).outcome, 'mismatch');
    assert.equal((await ask(PIN)).outcome, 'verified');
    assert.equal((await ask('000003')).outcome, 'mismatch');
    assert.equal((await ask(PIN)).outcome, 'locked');
  });

  it('concurrent guesses pass neither the waits nor the cap', async () => {
    const waits = await setup({ backoffAfter: 5 });
    await waits.vault.apply({ rotationId: rotationIdOf('w1', 'B-1'), waveId: 'w1', accountId: 'B-1', pin: PIN });
    const a = await Promise.all(Array.from({ length: 60 }, (_, i) => waits.service.verify({ accountId: 'B-1', pin: String(100000 + i), actor: 'attacker' })));
    assert.equal(a.filter((r) => r.outcome === 'mismatch').length, 5, 'five compared, then the first wait refuses the rest');
    assert.equal(a.filter((r) => r.outcome === 'throttled').length, 55);

    const cap = await setup({ maxFailures: 10, backoffAfter: 100 });
    await cap.vault.apply({ rotationId: rotationIdOf('w1', 'B-2'), waveId: 'w1', accountId: 'B-2', pin: PIN });
    const b = await Promise.all(Array.from({ length: 60 }, (_, i) => cap.service.verify({ accountId: 'B-2', pin: String(100000 + i), actor: 'attacker' })));
    assert.equal(b.filter((r) => r.outcome === 'mismatch').length, 10, 'exactly ten guesses were compared');
    assert.equal(cap.audit.filter((x) => x.type === 'pin.locked').length, 1);
  });

  it('500 made-up ids answer like a wrong PIN and leave no key and no audit record', async () => {
    const { service, audit, prefix, vault } = await setup({ backoffAfter: 1 });
    await vault.apply({ rotationId: rotationIdOf('w1', 'R-1'), waveId: 'w1', accountId: 'R-1', pin: PIN });
    const before = (await db.redis.keys(`${prefix}:*`)).sort();
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => service.verify({ accountId: `ghost-${i}`, pin: PIN, actor: 'attacker' })));
    assert.ok(answers.every((r) => !r.verified && r.outcome === 'unknown'));
    assert.deepEqual((await db.redis.keys(`${prefix}:*`)).sort(), before, 'no key was written');
    assert.deepEqual(audit, [], 'no audit record');
    const again = await service.verify({ accountId: 'ghost-1', pin: PIN, actor: 'attacker' });
    assert.equal(again.outcome, 'unknown', 'and no throttle state builds up for them either');
  });

  it('an operator unlock clears the lock (and a legacy never-expiring counter), audited with the operator', async () => {
    const { vault, service, audit, prefix } = await setup({ maxFailures: 2, backoffAfter: 100 });
    await vault.apply({ rotationId: rotationIdOf('w1', 'U-1'), waveId: 'w1', accountId: 'U-1', pin: PIN });
    await service.verify({ accountId: 'U-1', pin: '000001', actor: 'ivr' });
    await service.verify({ accountId: 'U-1', pin: '000002', actor: 'ivr' });
    assert.equal((await service.verify({ accountId: 'U-1', pin: PIN, actor: 'care' })).outcome, 'locked');
    await db.redis.set(pinKeys(prefix).failures('U-1'), '10');

    assert.deepEqual(await unlockPinVerification({ redis: db.redis, prefix, audit: async (r) => void audit.push(r) }, 'U-1', 'operator:alice'), { cleared: true });
    assert.equal(await db.redis.exists(pinKeys(prefix).failures('U-1')), 0);
    assert.deepEqual(audit.at(-1), { type: 'pin.unlocked', actor: 'operator:alice', account: 'U-1', detail: { cleared: true } });
    assert.deepEqual(await service.verify({ accountId: 'U-1', pin: PIN, actor: 'care' }), { verified: true, outcome: 'verified' });
    assert.deepEqual(await service.unlock('U-1', 'operator:alice'), { cleared: false });
  });

  it('verifies under a retired key and re-keys the verifier to the current key', async () => {
    const old = { id: 'v1', key: randomBytes(32) };
    const first = await setup({ maxFailures: 5 }, [old]);
    await first.vault.apply({ rotationId: rotationIdOf('w1', 'C-1'), waveId: 'w1', accountId: 'C-1', pin: PIN });
    const keyring = createVerifierKeyring([{ id: 'v2', key: randomBytes(32) }, old]);
    const vault = createVaultPinStore({ redis: db.redis, prefix: first.prefix, keyring });
    const service = createPinVerificationService({ redis: db.redis, prefix: first.prefix, keyring, maxFailures: 5, audit: async () => {} });
    assert.equal((await vault.read('C-1'))?.keyId, 'v1');
    assert.equal((await service.verify({ accountId: 'C-1', pin: PIN, actor: 'care' })).verified, true);
    const rec = await vault.read('C-1');
    assert.equal(rec?.keyId, 'v2');
    assert.equal(rec?.verifier, keyring.compute('C-1', PIN, 'v2'));
    assert.equal((await service.verify({ accountId: 'C-1', pin: PIN, actor: 'care' })).verified, true);
  });

  it('refuses a failure cap above 100 (NIST SP 800-63B) and waits that are not positive', async () => {
    await assert.rejects(setup({ maxFailures: 101 }), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID' && /100/.test(e.message));
    await assert.rejects(setup({ maxFailures: 0 }), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID');
    await assert.rejects(setup({ backoffBaseMs: 0 }), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID');
  });
});
