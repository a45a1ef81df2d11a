import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useRedis } from '@breachwave/testkit';
import { createLedger } from './index.js';

const db = useRedis();

/** A created wave of `accepted` accounts that needs `approvals` approvals, made by operator:ana. */
async function wave(approvals: number, accepted = 10) {
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}` });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {}, approvals, createdBy: 'operator:ana' }, { rows: accepted, accepted }, {});
  const audit = async () => (await db.redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; detail?: Record<string, unknown> });
  const fields = async () => db.redis.hgetall(ledger.keys.wave(waveId));
  return { ledger, waveId, audit, fields };
}

test('approval is the two-person rule: never the creator, each approver once, only after a dry run of the accounts as they are now', async () => {
  const { ledger, waveId, audit, fields } = await wave(2);
  const refused = async (op: Parameters<typeof ledger.control>[0], actor: string, code: string, pattern: RegExp) => {
    const before = await fields();
    const count = (await audit()).length;
    await assert.rejects(ledger.control(op, waveId, actor), (err: Error & { code?: string }) => err.code === code && pattern.test(err.message));
    assert.deepEqual(await fields(), before, `a refused ${op} changes nothing`);
    assert.equal((await audit()).length, count, `a refused ${op} is not audited as done`);
  };
  await refused('approve', 'operator:bo', 'BW_APPROVAL_REFUSED', /no dry run/);
  await ledger.control('dry-run', waveId, 'operator:ana', { templates: 3 }, 10);
  await refused('approve', 'operator:ana', 'BW_APPROVAL_REFUSED', /created the wave cannot approve/);
  const one = await ledger.control('approve', waveId, 'operator:bo');
  assert.deepEqual([one.status, one.approvers, one.approvals], ['created', ['operator:bo'], 2], 'one of two approvals');
  await refused('approve', 'operator:bo', 'BW_APPROVAL_REFUSED', /already approved/);
  // Accounts added after the dry run: the approvers must see them first.
  await ledger.setWaveFields(waveId, { accepted: 12 });
  await refused('approve', 'operator:cy', 'BW_APPROVAL_REFUSED', /added after the dry run/);
  await ledger.control('dry-run', waveId, 'operator:bo', {}, 12);
  const two = await ledger.control('approve', waveId, 'operator:cy');
  assert.deepEqual([two.status, two.approvers], ['approved', ['operator:bo', 'operator:cy']]);
  await refused('approve', 'operator:dee', 'BW_WAVE_STATE', /current state.*approved/);
  const trail = (await audit()).filter((r) => r.type.startsWith('wave.'));
  assert.deepEqual(trail.map((r) => [r.type, r.actor, r.detail?.status]), [
    ['wave.created', 'operator:ana', undefined],
    ['wave.dry-run', 'operator:ana', 'created'],
    ['wave.approval', 'operator:bo', 'created'],
    ['wave.dry-run', 'operator:bo', 'created'],
    ['wave.approval', 'operator:cy', 'approved'],
  ]);
  assert.equal(trail[1]?.detail?.templates, 3, 'the dry run\'s summary is in its record');
});

test('pause, resume and cancel are guarded: each is refused where it makes no sense, and a cancelled wave stays cancelled', async () => {
  const { ledger, waveId, audit } = await wave(0);
  await assert.rejects(ledger.control('pause', waveId, 'operator:bo'), { code: 'BW_WAVE_STATE' }, 'a wave not yet running cannot be paused');
  await assert.rejects(ledger.control('resume', waveId, 'operator:bo'), { code: 'BW_WAVE_STATE' });
  assert.equal(await ledger.setWaveStatus(waveId, 'feeding', 'feeder'), 'feeding');
  assert.equal((await ledger.control('pause', waveId, 'operator:bo', { reason: 'template check' })).paused, true);
  assert.deepEqual(await ledger.waveState(waveId), { status: 'feeding', paused: true });
  await assert.rejects(ledger.control('pause', waveId, 'operator:bo'), (err: Error) => /already paused/.test(err.message));
  assert.equal((await ledger.control('resume', waveId, 'operator:cy')).paused, false);
  await assert.rejects(ledger.control('resume', waveId, 'operator:cy'), (err: Error) => /not paused/.test(err.message));
  await ledger.control('pause', waveId, 'operator:bo');
  const c = await ledger.control('cancel', waveId, 'operator:dee', { reason: 'wrong file' });
  assert.deepEqual([c.status, c.paused], ['cancelled', false]);
  for (const op of ['pause', 'resume', 'cancel', 'approve', 'dry-run'] as const) {
    await assert.rejects(ledger.control(op, waveId, 'operator:eve'), { code: 'BW_WAVE_STATE' }, `${op} on a cancelled wave`);
  }
  assert.equal(await ledger.setWaveStatus(waveId, 'fed', 'feeder'), 'cancelled', 'a feeder cannot move a cancelled wave back');
  await assert.rejects(ledger.control('cancel', 'nope', 'operator:eve'), { code: 'BW_WAVE_NOT_FOUND' });
  const trail = (await audit()).filter((r) => /^wave\.(paused|resumed|cancelled)$/.test(r.type));
  assert.deepEqual(trail.map((r) => [r.type, r.actor, r.detail?.reason ?? null]), [
    ['wave.paused', 'operator:bo', 'template check'],
    ['wave.resumed', 'operator:cy', null],
    ['wave.paused', 'operator:bo', null],
    ['wave.cancelled', 'operator:dee', 'wrong file'],
  ]);
});

test('a wave that names its approvers is approved only by them; a refused approval names who may, and changes nothing', async () => {
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}` });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {},
    approvals: 1, approvers: ['operator:bo', 'operator:cy'], createdBy: 'operator:ana' }, { rows: 10, accepted: 10 }, {});
  await ledger.control('dry-run', waveId, 'operator:ana', {}, 10);
  const before = await db.redis.hgetall(ledger.keys.wave(waveId));
  const audited = (await db.redis.xlen(ledger.keys.audit));
  await assert.rejects(ledger.control('approve', waveId, 'operator:eve'), (err: Error & { code?: string }) =>
    err.code === 'BW_APPROVAL_REFUSED' && /operator:eve is not one of the approvers the wave names \(operator:bo, operator:cy\)/.test(err.message));
  await assert.rejects(ledger.control('approve', waveId, 'operator:ana'), /created the wave cannot approve/, 'the creator is refused as the creator');
  assert.deepEqual(await db.redis.hgetall(ledger.keys.wave(waveId)), before, 'refused approvals change nothing');
  assert.equal(await db.redis.xlen(ledger.keys.audit), audited, 'and are not audited as done');
  const ok = await ledger.control('approve', waveId, 'operator:cy');
  assert.deepEqual([ok.status, ok.approvers], ['approved', ['operator:cy']]);
});

test('an identity with a comma cannot approve: it would count as two approvers in the list the script keeps', async () => {
  const { ledger, waveId, fields } = await wave(2);
  await ledger.control('dry-run', waveId, 'operator:ana', {}, 10);
  const before = await fields();
  await assert.rejects(ledger.control('approve', waveId, 'operator:bo,operator:cy'), (err: Error & { code?: string }) => err.code === 'BW_INPUT_INVALID' && /without a comma/.test(err.message));
  await assert.rejects(ledger.control('pause', waveId, ''), { code: 'BW_INPUT_INVALID' }, 'nor can an empty identity do anything');
  assert.deepEqual(await fields(), before);
});
