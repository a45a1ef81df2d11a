import {
  BreachwaveError, DEFAULT_PIN_POLICY, channelsFor, generatePin, rotationIdOf,
  type PinApplyResult, type PinDelivery, type PinPolicy, type PinStore, type RandomInt,
} from '@breachwave/domain';
import { runStep, type ActionJobView, type ActionQueues, type StepOutcome } from '@breachwave/actions';
import { manifestCache, type Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import type { Envelope } from '@breachwave/secrets';
import type { PinHold } from './hold.js';

/** Dependencies of {@link createPinRotationProcessor}. */
export interface PinRotationDeps {
  readonly ledger: Ledger;
  /** Where the account's next action (the notice) is queued once the rotation is applied. */
  readonly queues: ActionQueues;
  readonly log: Logger;
  /** Opens the account's sealed contact record (`BW_ENVELOPE_KEY`): its phone digits are off limits for the PIN. */
  readonly envelope: Envelope;
  readonly hold: PinHold;
  readonly store: PinStore;
  /** The account's current PIN as a constant-time predicate (the vault's `previousMatcher`), if known. */
  readonly previous?: (accountId: string) => Promise<((pin: string) => boolean) | undefined>;
  /** Default {@link DEFAULT_PIN_POLICY} (six digits). */
  readonly policy?: PinPolicy;
  /** Default `crypto.randomInt`. */
  readonly random?: RandomInt;
  /** Audit actor. Default `pin-rotator`. */
  readonly actor?: string;
  /** Throttled store answers (HTTP 429) tolerated per rotation before they spend attempts. Default 50. */
  readonly maxThrottles?: number;
}

/** Ledger fields a rotation records on its `rotate-pin` entry (no secrets). */
export interface RotationPatch {
  /** Rotation id. */
  readonly rot: string;
  /** Store that applied it. */
  readonly st: string;
  /** How the PIN reaches the customer: `sms-temporary` only when a held PIN waits for the notice. */
  readonly dl: PinDelivery;
  /** Verifier key id, when the store keeps a verifier. */
  readonly kid?: string;
}

/**
 * The `rotate-pin` job processor. Through `runStep` (claim → step → done → queue the notice;
 * permanent failure → failed, notice skipped, job dead-lettered), one step per account:
 *
 * 1. draw a PIN under the policy (never the account's phone digits or current PIN) and seal it
 *    under the deterministic rotation id with `SET NX` — or take the one an earlier attempt
 *    sealed, so every retry offers the store the same PIN;
 * 2. apply it to the store, idempotent by rotation id;
 * 3. keep the held PIN for the notice only when the wave delivers temporary PINs, the account
 *    can get SMS, and the store confirmed that this PIN is the stored one; otherwise wipe it.
 *
 * A crash before the store call, after it, or before the job's ack therefore ends with one
 * applied rotation, and the notice can only ever carry the stored PIN.
 */
export function createPinRotationProcessor(deps: PinRotationDeps): (job: ActionJobView) => Promise<StepOutcome> {
  const actor = deps.actor ?? 'pin-rotator';
  const policy = deps.policy ?? DEFAULT_PIN_POLICY;
  const manifestOf = manifestCache(deps.ledger);

  return async function processRotation(job: ActionJobView): Promise<StepOutcome> {
    return runStep({ ledger: deps.ledger, queues: deps.queues, log: deps.log, actor, ...(deps.maxThrottles !== undefined ? { maxThrottles: deps.maxThrottles } : {}) }, 'rotate-pin', job, async ({ waveId, accountId, reclaimed, log, account, failsForGood }) => {
      try {
        const manifest = await manifestOf(waveId);
        if (!account) throw new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: 'account record missing' });
        const contact = deps.envelope.openJson<{ phone?: string; email?: string }>(account.contact, `${waveId}:${accountId}`);
        const rotationId = rotationIdOf(waveId, accountId);

        const held = await deps.hold.hold(waveId, accountId, async () => {
          const isPrevious = await deps.previous?.(accountId);
          return generatePin({ ...(contact.phone ? { phone: contact.phone } : {}), ...(isPrevious ? { isPrevious } : {}) }, policy, deps.random);
        });
        const result: PinApplyResult = await deps.store.apply({ rotationId, waveId, accountId, pin: held.pin });

        // The notifier's channel rule under the wave's policy: a temporary PIN is held only for an
        // account whose notice goes by SMS first (the temporary PIN line is in the SMS alone).
        const smsReachable = channelsFor({ ...(contact.phone ? { phone: contact.phone } : {}), ...(contact.email ? { email: contact.email } : {}), phoneIsMobile: account.phoneIsMobile, segment: account.segment }, manifest.channels)[0] === 'sms';
        const delivery: PinDelivery = manifest.pinDelivery === 'sms-temporary' && smsReachable && result.outcome !== 'conflict' ? 'sms-temporary' : 'none';
        if (delivery === 'none') await deps.hold.wipe(waveId, accountId);
        if (result.outcome === 'conflict') log.warn({ rotationId, store: result.store }, 'rotation was applied earlier with another PIN; no temporary PIN will be sent');

        const patch: RotationPatch = { rot: rotationId, st: result.store, dl: delivery, ...(result.keyId ? { kid: result.keyId } : {}) };
        // Recorded in the ledger and the audit trail; a conflict above is what needs a look.
        log.debug({ rotationId, store: result.store, outcome: result.outcome, delivery, reused: held.reused }, 'PIN rotation applied');
        return {
          patch: { ...patch },
          detail: { rotationId, store: result.store, outcome: result.outcome, delivery, reusedHeldPin: held.reused, reclaimed, ...(result.keyId ? { keyId: result.keyId } : {}) },
          counters: { [`rotate-pin:outcome:${result.outcome}`]: 1, [`rotate-pin:delivery:${delivery}`]: 1 },
        };
      } catch (err) {
        // Failed for good: no notice will carry the held PIN. A retry or a throttle keeps it, so
        // the next try applies the same PIN (the store may have applied it before failing).
        if (failsForGood(err)) await deps.hold.wipe(waveId, accountId);
        throw err;
      }
    }, { withAccount: true });
  };
}
