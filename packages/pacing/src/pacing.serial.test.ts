import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { acquireRedis, type TestRedis } from '@breachwave/testkit';
import { DEFAULT_HEADROOM, createPacer, maxBacklogFor, paceKey, PacingError, validityPeriodSeconds, type Pacer } from './index.js';
import { maxInWindow, rateBetween, runBench } from '../../../test/bench/pacing.js';

let server: TestRedis;
let redis: Redis;
const keys: string[] = [];
before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
});
after(async () => {
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await server.stop();
});

function fresh(options: { redis?: Redis; sender?: string; prefix?: string; defaultRate?: number } = {}): Pacer {
  const prefix = options.prefix ?? `t${randomBytes(4).toString('hex')}`;
  const sender = options.sender ?? 'twilio:+15005550006';
  keys.push(paceKey(prefix, sender));
  return createPacer({ redis: options.redis ?? redis, prefix, sender, ...(options.defaultRate ? { defaultRate: options.defaultRate } : {}) });
}

describe('validityPeriodSeconds', () => {
  test('is the backlog at this pace plus margins, capped at 36,000 s', () => {
    assert.equal(validityPeriodSeconds({ backlog: 0, rate: 1 }), 62); // ⌈1 × 1.25 + 60⌉
    assert.equal(validityPeriodSeconds({ backlog: 999, rate: 100 }), 73); // ⌈10 × 1.25 + 60⌉
    assert.equal(validityPeriodSeconds({ backlog: 850_000, rate: 100 }), 10_686); // 850K at 100 MPS ≈ 2.4 h
    assert.equal(validityPeriodSeconds({ backlog: 10_000_000, rate: 100 }), 36_000);
    assert.equal(validityPeriodSeconds({ backlog: 0, rate: 1000, marginSeconds: 0 }), 1);
    assert.equal(validityPeriodSeconds({ backlog: 99, rate: 1, maxSeconds: 14_400 }), 185);
  });
  test('maxBacklogFor is the largest backlog that is not capped', () => {
    const max = maxBacklogFor({ rate: 1 });
    assert.equal(max, 28_751);
    assert.equal(validityPeriodSeconds({ backlog: max, rate: 1 }), 36_000);
    assert.ok(((max + 2) / 1) * 1.25 + 60 > 36_000);
  });
  test('refuses nonsense', () => {
    assert.throws(() => validityPeriodSeconds({ backlog: 1, rate: 0 }), RangeError);
    assert.throws(() => validityPeriodSeconds({ backlog: -1, rate: 1 }), RangeError);
  });
});

describe('pacer', () => {
  test('rate is stored in Redis and shared; a sender without a rate is refused', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const a = fresh({ prefix });
    const b = fresh({ prefix });
    assert.equal(await a.getRate(), undefined);
    await assert.rejects(a.acquire(), (err: unknown) => err instanceof PacingError && err.code === 'BW_PACE_NO_RATE');
    await a.setRate(50, { burst: 2 });
    assert.equal(await b.getRate(), 50);
    assert.deepEqual(await b.getState(), { rate: 50, burst: 2, effectiveRate: 50 });
    await assert.rejects(a.setRate(0), RangeError);
    await assert.rejects(a.setRate(10, { burst: 0 }), RangeError);
    const c = fresh({ defaultRate: 20 });
    await c.acquire();
    assert.deepEqual(await c.getState(), { rate: undefined, burst: 1, effectiveRate: 20 });
    for (const p of [a, b, c]) p.close();
  });

  test('an aborted waiter is rejected with the reason and frees its place; close rejects the rest', async () => {
    const p = fresh();
    await p.setRate(2);
    await p.acquire(); // an idle sender's first slot is now
    const ctl = new AbortController();
    const aborted = p.acquire(ctl.signal);
    const queued = p.acquire();
    ctl.abort(new Error('job cancelled'));
    await assert.rejects(aborted, /job cancelled/);
    const t0 = performance.now();
    await queued; // takes the aborted waiter's slot, about 1/(2 × 0.99) s after the first
    assert.ok(performance.now() - t0 < 600);
    await assert.rejects(p.acquire(AbortSignal.abort()), { name: 'AbortError' });
    const pending = p.acquire();
    p.close();
    await assert.rejects(pending, (err: unknown) => err instanceof PacingError && err.code === 'BW_PACE_CLOSED');
    await assert.rejects(p.acquire(), (err: unknown) => err instanceof PacingError && err.code === 'BW_PACE_CLOSED');
  });

  test('penalties lower the effective rate and do not compound', async () => {
    const p = fresh();
    await p.setRate(100);
    await p.penalise(0.5, 60_000);
    await p.penalise(0.8, 10);
    const s = await p.getState();
    assert.equal(s.effectiveRate, 50);
    assert.equal(s.penalty?.factor, 0.5);
    assert.ok((s.penalty?.remainingMs ?? 0) > 59_000);
    await assert.rejects(p.penalise(0, 1000), RangeError);
    await assert.rejects(p.penalise(1.5, 1000), RangeError);
    p.close();
  });
});

describe('pacing under load', () => {
  test('4 processes at 200 msg/s for 5 s: never above the rate, below it only by the headroom and the slots lost to stalls (counted), no window over rate·W + 1', async () => {
    const rate = 200;
    const r = await runBench({ url: server.url, processes: 4, rate, seconds: 5 });
    const { stamps: _stamps, stepTimes: _steps, ...figures } = r;
    console.log(`pacing 4 processes: ${JSON.stringify(figures)}`);
    assert.ok(r.measured <= rate, `measured ${r.measured} above ${rate}`);
    // A slot its process released too late (an event-loop stall: the machine's load, counted as
    // wasted) is lost, never re-used. Below the rate by the 1 % headroom and those slots, and by
    // nothing else; how close to the rate an unloaded machine runs is \`pnpm bench\`'s figure.
    const granted = r.stats.reduce((n, s) => n + s.granted, 0);
    const wasted = r.stats.reduce((n, s) => n + s.wasted, 0);
    // Grid slots nobody reserved in time (every process stalled at once) are lost to stalls too.
    const skipped = r.stats.reduce((n, s) => n + s.skipped, 0);
    assert.equal(granted, r.count, 'one slot granted per send');
    const expected = rate * (1 - DEFAULT_HEADROOM) * (granted / (granted + wasted + skipped));
    // The floor catches a pacer that under-sends; it leaves 10 % for what the wasted-slot count
    // misses on a loaded machine (a process that asks for its slot late without wasting one: at
    // load 16 on 2 cores, 1.7 %). How close to the rate a quiet machine runs is the bench's figure.
    assert.ok(r.measured >= expected * 0.9, `measured ${r.measured}/s not below 90% of the ${expected.toFixed(2)}/s that the headroom, ${wasted} wasted and ${skipped} skipped slots leave`);
    // How many slots stalls waste depends on the machine's load; counted and accounted for above.
    assert.equal(r.stats.length, 4);
    assert.ok(r.stats.every((s) => s.granted > 0), 'every process sent');
    for (const w of [1000, 1500, 2000, 3000]) {
      const most = maxInWindow(r.stamps, w);
      assert.ok(most <= (rate * w) / 1000 + 1, `${most} sends in a ${w} ms window`);
    }
  });

  test('a rate change and a penalty reach every process at once; the rate recovers after the penalty', async () => {
    const r = await runBench({
      url: server.url,
      processes: 4,
      rate: 100,
      seconds: 4.4,
      steps: [
        { atMs: 1200, run: (p) => p.setRate(250) },
        { atMs: 2400, run: (p) => p.penalise(0.25, 1000) },
      ],
    });
    const [changed = 0, penalised = 0] = r.stepTimes;
    const phase = (from: number, to: number) => rateBetween(r.stamps, from, to);
    console.log(`pacing phases: ${JSON.stringify({ before: phase(100, changed), after: phase(changed + 100, penalised), penalty: phase(penalised + 100, penalised + 1000), recovered: phase(penalised + 1100, 4400) })}`);
    // Bounds the pacer owns, whatever the machine's load: never above the rate in force (arrival
    // jitter of a slot or two allowed), and each change visible in the next phase — faster than
    // the old rate after the raise, slower than the raised rate under the penalty, faster again
    // after it. How close each phase runs to its rate on a quiet machine is `pnpm bench`'s figure.
    const jitter = (rate: number, ms: number) => rate + 2000 / ms;
    const before = phase(100, changed);
    const raised = phase(changed + 100, penalised);
    const penalty = phase(penalised + 100, penalised + 1000);
    const recovered = phase(penalised + 1100, 4400);
    assert.ok(before > 0 && before <= jitter(100, changed - 100), `at 100/s: ${before}`);
    assert.ok(raised > 100 && raised <= jitter(250, penalised - changed - 100), `after setRate(250): ${raised}, above the old rate and not above the new`);
    assert.ok(penalty <= jitter(62.5, 900) && penalty < raised, `during penalise(0.25): ${penalty}, not above 250 × 0.25`);
    assert.ok(recovered > penalty && recovered > 100 && recovered <= jitter(250, 4400 - penalised - 1100), `after the penalty: ${recovered}`);
    assert.ok(maxInWindow(r.stamps.filter((t) => t < changed)) <= 101, 'a window over 101 at 100/s');
    assert.ok(maxInWindow(r.stamps) <= 251, 'a window over 251 at 250/s');
  });
});
