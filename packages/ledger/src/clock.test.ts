import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WaveManifest } from '@breachwave/domain';
import { waveClock } from './clock.js';
import type { WaveProgress } from './index.js';

const manifest = (deadline?: string): WaveManifest => ({
  waveId: 'w1', createdAt: '2026-12-01T00:00:00.000Z', source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {},
  ...(deadline ? { regulatory: { determinedAt: '2026-11-20T00:00:00.000Z', deadline, rule: 'FCC: 30 days' } } : {}),
});
const progress = (o: Partial<WaveProgress> & { done?: number }): WaveProgress => ({
  status: 'fed', rows: 1000, accepted: 1000, rejected: 0, fed: 1000, actions: { notify: { done: o.done ?? 0, pending: 1000 - (o.done ?? 0) } }, events: {},
  sent: { sms: o.done ?? 0, email: 0 }, messages: { sms: o.done ?? 0, email: 0 }, consolidated: 0, ambiguous: 0, finished: o.done ?? 0, paused: false, cancelledUnfed: 0, complete: false, ...o,
});
const started = { feeding: { first: '2026-12-01T10:00:00.000Z', last: '2026-12-01T10:00:00.000Z' } };

test('the rate is the average since the feed began unless measured; the ETA and projected finish follow from it', () => {
  const now = new Date('2026-12-01T10:01:40.000Z'); // 100 s after the feed began
  const c = waveClock({ manifest: manifest(), times: started }, progress({ done: 200 }), now);
  assert.equal(c.ratePerSecond, 2);
  assert.equal(c.etaSeconds, 400, '800 left at 2/s');
  assert.equal(c.projectedFinish, '2026-12-01T10:08:20.000Z');
  assert.equal(c.notifiedPct, 20);
  assert.deepEqual([c.deadline, c.timeLeftSeconds, c.atRisk], [null, null, false], 'no regulatory clock, nothing at risk');
  assert.equal(waveClock({ manifest: manifest(), times: started }, progress({ done: 200 }), now, 8).etaSeconds, 100, 'a measured rate wins');
  assert.equal(waveClock({ manifest: manifest(), times: {} }, progress({ done: 0 }), now).etaSeconds, null, 'nothing finished, no start: unknown');
});

test('a projected finish after the deadline, a deadline passed, or nothing finished with less than a day left is at risk; a complete wave never is', () => {
  const now = new Date('2026-12-01T10:01:40.000Z');
  const soon = waveClock({ manifest: manifest('2026-12-01T10:05:00.000Z'), times: started }, progress({ done: 200 }), now);
  assert.equal(soon.timeLeftSeconds, 200);
  assert.equal(soon.atRisk, true, 'finishes 10:08:20, deadline 10:05');
  const later = waveClock({ manifest: manifest('2026-12-01T11:00:00.000Z'), times: started }, progress({ done: 200 }), now);
  assert.equal(later.atRisk, false);
  const passed = waveClock({ manifest: manifest('2026-12-01T09:00:00.000Z'), times: started }, progress({ done: 200 }), now);
  assert.deepEqual([passed.timeLeftSeconds! < 0, passed.atRisk], [true, true]);
  const idle = waveClock({ manifest: manifest('2026-12-02T09:00:00.000Z'), times: {} }, progress({ done: 0, status: 'approved' }), now);
  assert.equal(idle.atRisk, true, 'not started with under a day left');
  const done = waveClock({ manifest: manifest('2026-12-01T09:00:00.000Z'), times: started }, progress({ done: 1000, complete: true }), now);
  assert.deepEqual([done.etaSeconds, done.atRisk], [0, false]);
});

test('a running wave with open notices and none finished for the threshold is stuck; a paused, complete or busy one is not', () => {
  const now = new Date('2026-12-01T10:20:00.000Z');
  const wave = { manifest: manifest(), times: started };
  const idle = waveClock(wave, progress({ done: 200, lastFinishedAt: '2026-12-01T10:05:00.000Z' }), now);
  assert.deepEqual([idle.stuck, idle.idleSeconds], [true, 900], 'nothing finished for 15 min, 800 open');
  assert.equal(waveClock(wave, progress({ done: 200, lastFinishedAt: '2026-12-01T10:05:00.000Z' }), now, undefined, 1200).stuck, false, 'under a 20 min threshold');
  assert.equal(waveClock(wave, progress({ done: 200, lastFinishedAt: '2026-12-01T10:19:00.000Z' }), now).stuck, false, 'one finished a minute ago');
  assert.equal(waveClock(wave, progress({ done: 200, paused: true, lastFinishedAt: '2026-12-01T10:05:00.000Z' }), now).stuck, false, 'paused on purpose');
  assert.deepEqual([waveClock(wave, progress({ done: 0 }), now).stuck, waveClock(wave, progress({ done: 0 }), now).idleSeconds], [true, 1200], 'nothing ever finished since the feed began 20 min ago');
  assert.equal(waveClock(wave, progress({ done: 1000, complete: true, lastFinishedAt: '2026-12-01T10:05:00.000Z' }), now).stuck, false);
});

test('several deadline rules: the clock runs against the earliest, and names the rule that sets it', () => {
  const now = new Date('2026-12-01T10:01:40.000Z');
  const regulatory = {
    determinedAt: '2026-11-30T00:00:00.000Z', deadline: '2026-12-03T00:00:00.000Z', rule: 'State X: 72 hours',
    rules: [{ rule: 'FCC: 30 days', deadline: '2026-12-30T00:00:00.000Z', days: 30 }, { rule: 'State X: 72 hours', deadline: '2026-12-03T00:00:00.000Z', hours: 72 }],
  };
  const c = waveClock({ manifest: { ...manifest(), regulatory }, times: started }, progress({ done: 200 }), now);
  assert.deepEqual([c.deadline, c.deadlineRule], ['2026-12-03T00:00:00.000Z', 'State X: 72 hours']);
  assert.equal(c.timeLeftSeconds, Math.round((Date.parse('2026-12-03T00:00:00.000Z') - now.getTime()) / 1000));
  assert.equal(waveClock({ manifest: manifest(), times: started }, progress({}), now).deadlineRule, null);
});
