import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rotationIdOf, type BreachwaveError, type PinApplyResult, type PinStore } from '@breachwave/domain';
import { dumpRedis, useRedis } from '@breachwave/testkit';
import { pinKeys } from './keys.js';
import { containsPin } from './test-support.js';
import { createMirroredPinStore, createVaultPinStore } from './vault.js';
import { createVerifierKeyring } from './verifier.js';

const db = useRedis();

describe('Redis PIN vault', () => {
  it('stores only a keyed verifier, idempotently by rotation id', async () => {
    const prefix = `vault${randomBytes(3).toString('hex')}`;
    const keyring = createVerifierKeyring([{ id: 'v2', key: randomBytes(32) }]);
    const vault = createVaultPinStore({ redis: db.redis, prefix, keyring });
    const req = { rotationId: rotationIdOf('w1', 'A-1'), waveId: 'w1', accountId: 'A-1', pin: '738294' };
    const throttle = [pinKeys(prefix).failures('A-1'), pinKeys(prefix).failureLog('A-1'), pinKeys(prefix).backoff('A-1')];
    await db.redis.set(pinKeys(prefix).failures('A-1'), '3');
    await db.redis.zadd(pinKeys(prefix).failureLog('A-1'), 1, 'f1');
    await db.redis.hset(pinKeys(prefix).backoff('A-1'), 'c', '1');

    assert.deepEqual(await vault.apply(req), { outcome: 'applied', store: 'vault', keyId: 'v2' });
    assert.equal((await vault.apply(req)).outcome, 'replayed');
    assert.equal((await vault.apply({ ...req, pin: '583927' })).outcome, 'conflict');
    const rec = await vault.read('A-1');
    assert.equal(rec?.applied, 1);
    assert.equal(rec?.keyId, 'v2');
    assert.equal(rec?.rotationId, 'rot.w1.A-1');
    assert.equal(rec?.verifier, keyring.compute('A-1', '738294'));
    assert.notEqual(rec?.verifier, keyring.compute('A-2', '738294'), 'the verifier is bound to the account');
    assert.equal(await db.redis.exists(...throttle), 0, 'a new PIN starts a new throttling window');
    assert.ok((await db.redis.ttl(pinKeys(prefix).applied('rot.w1.A-1'))) > 0, 'rotation markers expire');

    const matches = await vault.previousMatcher('A-1');
    assert.ok(matches);
    assert.equal(matches('738294'), true);
    assert.equal(matches('583927'), false);
    assert.equal(await vault.previousMatcher('nobody'), undefined);

    // A second wave rotates again: a new rotation id applies once more.
    assert.equal((await vault.apply({ ...req, rotationId: rotationIdOf('w2', 'A-1'), waveId: 'w2', pin: '583927' })).outcome, 'applied');
    assert.equal((await vault.read('A-1'))?.applied, 2);
    // ...and a late retry of the first wave's rotation does not roll it back.
    assert.equal((await vault.apply(req)).outcome, 'replayed');
    assert.equal((await vault.read('A-1'))?.verifier, keyring.compute('A-1', '583927'));

    const dump = await dumpRedis(db.redis, prefix);
    assert.ok(!containsPin(dump, '738294') && !containsPin(dump, '583927'), 'no PIN in Redis');
  });

  it('mirrors a BSS rotation into the vault, except a conflicting one', async () => {
    const prefix = `mirror${randomBytes(3).toString('hex')}`;
    const keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
    const vault = createVaultPinStore({ redis: db.redis, prefix, keyring });
    let next: PinApplyResult['outcome'] = 'applied';
    const bss: PinStore = { name: 'bss', apply: async () => ({ outcome: next, store: 'bss' }) };
    const store = createMirroredPinStore(bss, vault);
    const req = { rotationId: rotationIdOf('w1', 'B-1'), waveId: 'w1', accountId: 'B-1', pin: '738294' };
    assert.deepEqual(await store.apply(req), { outcome: 'applied', store: 'bss', keyId: 'v1' });
    assert.equal((await vault.read('B-1'))?.verifier, keyring.compute('B-1', '738294'));
    next = 'conflict';
    assert.deepEqual(await store.apply({ ...req, accountId: 'B-2', rotationId: rotationIdOf('w1', 'B-2') }), { outcome: 'conflict', store: 'bss' });
    assert.equal(await vault.read('B-2'), undefined);
  });

  it('refuses to run without a verifier key', () => {
    assert.throws(() => createVerifierKeyring([]), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID' && /BW_PIN_VERIFIER_KEY/.test(e.message));
    assert.throws(() => createVerifierKeyring([{ id: 'v1', key: randomBytes(16) }]), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID');
  });
});
