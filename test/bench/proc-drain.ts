/**
 * A stand-in notifier for the 1M-row wave's memory measure: a BullMQ worker on the notify queue
 * (the actions package's worker, as the notifier runs it) whose processor makes the notice
 * path's ledger writes — claim, then the send recorded (channel, provider id, counters, audit)
 * with the contact record released — but sends nothing. Redis then holds what a real wave leaves
 * behind (the ledger entry of every account, the queue's window, the audit stream until it is
 * drained), at a pace the real notifier on this box could not keep for a million accounts.
 *
 * Env: REDIS_URL, BW_PREFIX, BW_NOTIFY_CONCURRENCY. Logs "drain started"; SIGTERM drains and exits.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createActionWorker } from '@breachwave/actions';
import { parseActionJob } from '@breachwave/jobs';
import { createLedger } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.BW_PREFIX ?? 'bw';
const log = createLogger({ name: 'bench-drain', level: 'warn' });
const redis = new Redis(url, { maxRetriesPerRequest: null });
const ledger = createLedger({ redis, prefix });
const worker = createActionWorker({
  action: 'notify',
  connection: { url, maxRetriesPerRequest: null },
  prefix,
  log,
  concurrency: Number(process.env.BW_NOTIFY_CONCURRENCY ?? 50),
  processor: async (job) => {
    const { waveId, accountId } = parseActionJob(job.data);
    const base = { waveId, accountId, action: 'notify' as const, actor: 'notifier' };
    const claim = await ledger.transition({ ...base, from: ['pending', 'claimed'], to: 'claimed', event: 'notify.claimed', detail: { attempt: job.attemptsMade + 1 }, withAccount: true });
    if (claim.outcome !== 'ok') return;
    const pid = `SM${randomBytes(16).toString('hex')}`;
    await ledger.transition({ ...base, from: ['claimed'], to: 'done', event: 'notify.done', patch: { ch: 'sms', pid, err: false },
      detail: { channel: 'sms', providerId: pid, status: 'queued' }, counters: { 'notify:sent:sms': 1 }, releaseAccount: 0 });
  },
});
await worker.start();
process.stdout.write('drain started\n');
process.once('SIGTERM', () => {
  void worker.close().then(() => redis.quit());
});
