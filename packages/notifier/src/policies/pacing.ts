import type { Redis } from 'ioredis';
import type { Channel } from '@breachwave/domain';
import { PacingError, createPacer, definePaceCommands, type Pacer, type PacerStats } from '@breachwave/pacing';
import type { DeliveryPolicy } from '../contract.js';

/** How long a notice that gave up its place in the pace queue waits before it meets the wave's gate again. */
const GATE_DEFER_MS = 1000;

/**
 * A distributed pace per sender (a Twilio number or Messaging Service, an SMTP relay), shared by
 * every notifier process through Redis. A sender without a rate is not paced; an operator sets or
 * changes one while a wave runs (`breachwave pace set`), and every process follows within ~20 ms.
 * A throttled answer (20429, 429, 421) halves the sender's pace for ten seconds.
 */
export function pacingPolicy(options: { readonly redis: Redis; readonly prefix: string; readonly senders: Readonly<Record<Channel, string>> }): DeliveryPolicy & { close(): void; stats(): Record<string, PacerStats> } {
  const pacers = new Map<Channel, Pacer>();
  // Pacers are made on a channel's first send, mid-wave: their scripts must exist before then.
  definePaceCommands(options.redis);
  // When a sender has no rate, asking again on every send would cost a round trip each: look
  // again after a second (so a rate set mid-wave is picked up quickly).
  const unpacedUntil = new Map<Channel, number>();
  const pacerFor = (channel: Channel): Pacer => {
    let p = pacers.get(channel);
    if (!p) {
      p = createPacer({ redis: options.redis, prefix: options.prefix, sender: options.senders[channel] });
      pacers.set(channel, p);
    }
    return p;
  };
  return {
    name: 'pacing',
    async beforeSend(ctx) {
      if ((unpacedUntil.get(ctx.channel) ?? 0) > Date.now()) return undefined;
      try {
        await pacerFor(ctx.channel).acquire(ctx.signal);
      } catch (err) {
        if (err instanceof PacingError && err.code === 'BW_PACE_NO_RATE') {
          unpacedUntil.set(ctx.channel, Date.now() + 1000);
          return undefined;
        }
        // The wave was paused or cancelled while waiting: no slot was taken; the job comes back
        // shortly and meets the wave's gate before anything else.
        if (ctx.signal?.aborted) return { kind: 'defer', delayMs: GATE_DEFER_MS, reason: 'wave paused or cancelled while waiting for a pace slot' };
        throw err;
      }
      return undefined;
    },
    async afterSend(ctx, outcome) {
      if (!outcome.ok && outcome.error.kind === 'throttled' && pacers.has(ctx.channel)) {
        await pacerFor(ctx.channel).penalise(0.5, 10_000);
      }
    },
    /** Each used sender's pacer counters (slots granted, wasted to stalls, script calls). */
    stats() {
      return Object.fromEntries([...pacers.values()].map((p) => [p.sender, p.stats()]));
    },
    close() {
      for (const p of pacers.values()) p.close();
      pacers.clear();
    },
  };
}

/** The pace key of each channel's sender (kept beside the pacer, which the dry run reads too). */
export { senderIds } from '@breachwave/pacing';
