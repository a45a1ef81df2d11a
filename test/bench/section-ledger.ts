/**
 * The notice path's ledger traffic alone, at the notifier's concurrency: per account, claim →
 * read the account record → record the send (patch, counters, audit) → release the record —
 * exactly the calls the notice processor makes, without BullMQ or a provider, so the Redis cost
 * of the ledger can be compared between implementations in the same run:
 *
 * - `reference`: the pre-optimisation script and client (`reference/ledger-v0.ts`), 4 round trips;
 * - `current`: today's ledger, called as the notifier calls it today, 4 round trips;
 * - `folded`: today's ledger with `withAccount` on the claim and `releaseAccount` on the send,
 *   2 round trips — what the notifier would do after the change recommended in PERFORMANCE.md;
 * - `current-autopipeline`, `folded-autopipeline`: the same over an ioredis client with
 *   `enableAutoPipelining` (commands issued in one tick leave in one socket write).
 *
 * Params: { url, accounts, concurrency, variant }. Prints { perSec, redisCpuUsPerAccount, … }. With
 * `variants` instead of `variant` (smoke runs: one process instead of one per variant), each of
 * them in turn, on a client and key prefix of its own; prints an array, one result per variant.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createLedger, type AccountRecord } from '@breachwave/ledger';
import { childParams, commandStats, deletePrefix, diffCommandStats, emitVariants, randomId, redisCpuMs, round } from './common.js';
import { createLedgerV0 } from './reference/ledger-v0.js';

type Variant = 'reference' | 'current' | 'folded' | 'current-autopipeline' | 'folded-autopipeline';
type Params = { readonly url: string; readonly accounts: number; readonly concurrency: number } & ({ readonly variant: Variant } | { readonly variants: readonly Variant[] });

const p = childParams<Params>();
const waveId = 'wbench';

/** One variant, on a Redis client and key prefix of its own: its result. */
async function measureVariant(variant: Variant): Promise<unknown> {
  const prefix = `bwbench-ledger-${randomId()}`;
  const autopipeline = variant.endsWith('-autopipeline');
  const redis = new Redis(p.url, { maxRetriesPerRequest: null, enableAutoPipelining: autopipeline });
  const mode = variant.replace('-autopipeline', '');
  try {
    const ledger = createLedger({ redis, prefix });
    const v0 = createLedgerV0(redis, prefix);
    const ids = Array.from({ length: p.accounts }, (_, i) => `ACCT-${String(i).padStart(8, '0')}`);
    const record: AccountRecord = { segment: 'prepaid-active', locale: 'en', exposed: ['name', 'phone', 'pin'], hasPhone: true, phoneIsMobile: true, hasEmail: true, line: 2,
      contact: `v1.k1.${'A'.repeat(16)}.${'B'.repeat(120)}.${'C'.repeat(22)}` };
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await ledger.initAccounts(waveId, 'feeder', chunk.map((accountId) => ({ accountId, actions: ['notify'] })));
      await ledger.putAccounts(waveId, chunk.map((accountId) => ({ accountId, record })));
    }
    await redis.del(`${prefix}:audit`); // the set-up's audit records are not part of the measure

    const base = { waveId, action: 'notify' as const, actor: 'notifier' };
    const one = async (accountId: string, n: number): Promise<void> => {
      const claimReq = { ...base, accountId, from: ['pending', 'claimed'] as const, to: 'claimed' as const, event: 'notify.claimed', detail: { attempt: 1 } };
      const doneReq = {
        ...base, accountId, from: ['claimed'] as const, to: 'done' as const, event: 'notify.done',
        patch: { ch: 'sms', pid: `SM${String(n).padStart(32, '0')}`, err: false }, detail: { channel: 'sms', providerId: `SM${String(n).padStart(32, '0')}`, status: 'queued' },
        counters: { 'notify:sent:sms': 1 },
      };
      if (mode === 'reference') {
        await v0.transition({ ...claimReq, from: [...claimReq.from] });
        await v0.getAccount(waveId, accountId);
        await v0.transition({ ...doneReq, from: [...doneReq.from] });
        await v0.releaseAccount(waveId, accountId);
      } else if (mode === 'current') {
        await ledger.transition({ ...claimReq, from: [...claimReq.from] });
        await ledger.getAccount(waveId, accountId);
        await ledger.transition({ ...doneReq, from: [...doneReq.from] });
        await ledger.releaseAccount(waveId, accountId, 0);
      } else {
        const claim = await ledger.transition({ ...claimReq, from: [...claimReq.from], withAccount: true });
        if (!claim.account) throw new Error('record missing');
        await ledger.transition({ ...doneReq, from: [...doneReq.from], releaseAccount: 0 });
      }
    };

    const statsBefore = await commandStats(redis);
    const redisBefore = await redisCpuMs(redis);
    const cpuBefore = process.cpuUsage();
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: p.concurrency }, async () => {
      for (let i = next++; i < ids.length; i = next++) await one(ids[i] as string, i);
    }));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpuBefore);
    const redisCpu = (await redisCpuMs(redis)) - redisBefore;
    const cmds = diffCommandStats(statsBefore, await commandStats(redis));
    // What each finished account leaves in the ledger hash (exact: every field sampled).
    const ledgerBytes = Number(await redis.call('MEMORY', 'USAGE', ledger.keys.ledger(waveId), 'SAMPLES', '0'));
    const counts = await ledger.counts(waveId);
    if ((counts['notify:done'] ?? 0) !== p.accounts) throw new Error(`expected ${p.accounts} done, got ${counts['notify:done']}`);
    return {
      variant,
      accounts: p.accounts,
      concurrency: p.concurrency,
      ms: round(ms),
      perSec: round((p.accounts / ms) * 1000),
      roundTripsPerAccount: mode === 'folded' ? 2 : 4,
      autopipeline,
      redisCpuUsPerAccount: round((redisCpu * 1000) / p.accounts, 1),
      clientCpuUsPerAccount: round((cpu.user + cpu.system) / p.accounts, 1),
      redisCommandsPerAccount: round(cmds.reduce((a, c) => a + c.calls, 0) / p.accounts, 2),
      redisCommandUsecPerAccount: round(cmds.reduce((a, c) => a + c.usec, 0) / p.accounts, 1),
      ledgerBytesPerAccount: round(ledgerBytes / p.accounts, 1),
    };
  } finally {
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

await emitVariants(p, measureVariant);
