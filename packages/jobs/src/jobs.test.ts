import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionJobId, backoffDelay, parseActionJob } from './index.js';

test('action jobs carry ids only and reject anything else', () => {
  assert.deepEqual(parseActionJob({ waveId: 'w1', accountId: 'A-1' }), { waveId: 'w1', accountId: 'A-1' });
  assert.throws(() => parseActionJob({ waveId: 'w1', accountId: 'A-1', phone: '+12025550143' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_JOB_PAYLOAD_INVALID');
    assert.ok(!e.message.includes('2025550143'));
    return true;
  });
  assert.throws(() => parseActionJob({ waveId: 'w:1', accountId: 'x' }), { code: 'BW_JOB_PAYLOAD_INVALID' });
  assert.throws(() => parseActionJob('nonsense'), { code: 'BW_JOB_PAYLOAD_INVALID' });
});

test('job ids are deterministic and colon-free', () => {
  const id = actionJobId('notify', { waveId: 'w1', accountId: 'A-1' });
  assert.equal(id, 'notify.w1.A-1');
  assert.ok(!id.includes(':'));
});

test('backoff grows exponentially, stays within its jitter band and cap', () => {
  assert.equal(backoffDelay(1, 1000, 60_000, () => 0), 500);
  assert.equal(backoffDelay(1, 1000, 60_000, () => 1), 1000);
  assert.equal(backoffDelay(4, 1000, 60_000, () => 1), 8000);
  assert.equal(backoffDelay(30, 1000, 60_000, () => 1), 60_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});
