import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rotationIdOf, type BreachwaveError } from '@breachwave/domain';
import type { AuditInput } from '@breachwave/ledger';
import { useRedis } from '@breachwave/testkit';
import { createVaultPinStore } from './vault.js';
import { createVerifierKeyring } from './verifier.js';
import { createPinVerificationService } from './verify.js';

const db = useRedis();

const PIN = '738294';

async function setup(maxFailures: number, keys = [{ id: 'v1', key: randomBytes(32) }]) {
  const prefix = `verify${randomBytes(3).toString('hex')}`;
  const keyring = createVerifierKeyring(keys);
  const vault = createVaultPinStore({ redis: db.redis, prefix, keyring });
  const audit: AuditInput[] = [];
  const service = createPinVerificationService({ redis: db.redis, prefix, keyring, maxFailures, audit: async (r) => void audit.push(r) });
  return { prefix, keyring, vault, audit, service };
}

describe('PIN verification', () => {
  it('verifies the stored PIN, counts consecutive failures, locks at the limit, and audits without the PIN', async () => {
    const { vault, audit, service } = await setup(3);
    await vault.apply({ rotationId: rotationIdOf('w1', 'A-1'), waveId: 'w1', accountId: 'A-1', pin: PIN });
    const ask = (pin: string) => service.verify({ accountId: 'A-1', pin, waveId: 'w1', actor: 'ivr' });

    assert.deepEqual(await ask(PIN), { verified: true, locked: false, remainingAttempts: 3 });
    assert.deepEqual(await ask('583927'), { verified: false, locked: false, remainingAttempts: 2 });
    assert.deepEqual(await ask(PIN), { verified: true, locked: false, remainingAttempts: 3 }, 'a success resets the count');
    assert.deepEqual(await ask('583927'), { verified: false, locked: false, remainingAttempts: 2 });
    assert.deepEqual(await ask('583928'), { verified: false, locked: false, remainingAttempts: 1 });
    assert.deepEqual(await ask('583929'), { verified: false, locked: true, remainingAttempts: 0 });
    assert.deepEqual(await ask(PIN), { verified: false, locked: true, remainingAttempts: 0 }, 'locked: even the right PIN is refused');

    assert.deepEqual(audit.map((a) => [a.type, (a.detail as { result?: string }).result]), [
      ['pin.verify', 'verified'], ['pin.verify', 'mismatch'], ['pin.verify', 'verified'], ['pin.verify', 'mismatch'], ['pin.verify', 'mismatch'],
      ['pin.verify', 'mismatch'], ['pin.locked', undefined], ['pin.verify', 'locked'],
    ]);
    assert.ok(audit.every((a) => a.actor === 'ivr' && a.account === 'A-1' && a.wave === 'w1'));
    const text = JSON.stringify(audit);
    for (const pin of [PIN, '583927', '583928', '583929']) assert.ok(!text.includes(pin), 'no PIN in the audit');

    await service.unlock('A-1', 'care-supervisor');
    assert.deepEqual(await ask(PIN), { verified: true, locked: false, remainingAttempts: 3 });
  });

  it('concurrent guesses never pass the limit', async () => {
    const { vault, service, audit } = await setup(10);
    await vault.apply({ rotationId: rotationIdOf('w1', 'B-1'), waveId: 'w1', accountId: 'B-1', pin: PIN });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => service.verify({ accountId: 'B-1', pin: String(100000 + i), actor: 'attacker' })));
    assert.equal(results.filter((r) => !r.locked || r.remainingAttempts > 0).length, 9, 'nine failures leave the account open');
    assert.equal(audit.filter((a) => (a.detail as { result?: string }).result === 'mismatch').length, 10, 'exactly ten guesses were compared');
    assert.equal(audit.filter((a) => a.type === 'pin.locked').length, 1);
    assert.equal((await service.verify({ accountId: 'B-1', pin: PIN, actor: 'care' })).locked, true);
  });

  it('an account without a verifier fails like a wrong PIN (and is throttled the same way)', async () => {
    const { service, audit } = await setup(2);
    assert.deepEqual(await service.verify({ accountId: 'nobody', pin: PIN, actor: 'ivr' }), { verified: false, locked: false, remainingAttempts: 1 });
    assert.deepEqual(await service.verify({ accountId: 'nobody', pin: PIN, actor: 'ivr' }), { verified: false, locked: true, remainingAttempts: 0 });
    assert.equal((audit[0]?.detail as { result?: string }).result, 'no-verifier');
  });

  it('verifies under a retired key and re-keys the verifier to the current key', async () => {
    const old = { id: 'v1', key: randomBytes(32) };
    const first = await setup(5, [old]);
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

  it('refuses a lockout threshold above 100 (NIST SP 800-63B)', async () => {
    await assert.rejects(setup(101), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID' && /100/.test(e.message));
    await assert.rejects(setup(0), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID');
  });
});
