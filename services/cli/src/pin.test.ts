import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { rotationIdOf } from '@breachwave/domain';
import { createPinVerificationService, createVaultPinStore, createVerifierKeyring } from '@breachwave/pin';
import { entryArgs, useRedis } from '@breachwave/testkit';

const db = useRedis();
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Runs the real CLI as an operator does. */
function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [...entryArgs(MAIN), ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('pin unlock ACCOUNT lifts a verification lock, audited with the operator', { timeout: 90_000 }, async () => {
  const prefix = `clipin${randomBytes(3).toString('hex')}`;
  const keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
  const PIN = '738294';
  await createVaultPinStore({ redis: db.redis, prefix, keyring }).apply({ rotationId: rotationIdOf('w1', 'A-1'), waveId: 'w1', accountId: 'A-1', pin: PIN });
  const service = createPinVerificationService({ redis: db.redis, prefix, keyring, maxFailures: 1, audit: async () => {} });
  await service.verify({ accountId: 'A-1', pin: '000001', actor: 'ivr' });
  assert.equal((await service.verify({ accountId: 'A-1', pin: PIN, actor: 'care' })).outcome, 'locked');

  const r = cli(['pin', 'unlock', 'A-1', '--actor', 'alice', '--json'], { REDIS_URL: db.url, BW_PREFIX: prefix });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { accountId: 'A-1', cleared: true });
  assert.equal((await service.verify({ accountId: 'A-1', pin: PIN, actor: 'care' })).outcome, 'verified');
  const audit = (await db.redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; account: string });
  assert.deepEqual(audit.map((a) => [a.type, a.actor, a.account]), [['pin.unlocked', 'operator:alice', 'A-1']]);

  const bad = cli(['pin', 'unlock', 'not an id'], { REDIS_URL: db.url, BW_PREFIX: prefix });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /account id/);
});
