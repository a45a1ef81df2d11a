/** Twilio's upper bound on `ValidityPeriod` (seconds): its queue holds a message for at most 10 h. */
export const TWILIO_MAX_VALIDITY_SECONDS = 36_000;

/** Inputs of {@link validityPeriodSeconds}. */
export interface ValidityInput {
  /** Messages that will be handed to the sender before this one (≥ 0). */
  readonly backlog: number;
  /** The sender's pace, messages/s (> 0). */
  readonly rate: number;
  /** Cap, default {@link TWILIO_MAX_VALIDITY_SECONDS}. */
  readonly maxSeconds?: number;
  /** Fixed margin added on top, default 60 s. */
  readonly marginSeconds?: number;
  /** Proportional margin for pace slow-downs (penalties, throttling), default 0.25 (+25 %). */
  readonly marginRatio?: number;
}

/**
 * Twilio's `ValidityPeriod` for a message sent at this pace: the time the backlog ahead of it
 * plus itself takes at `rate`, with margins, capped:
 *
 *   ⌈ (backlog + 1) / rate × (1 + marginRatio) + marginSeconds ⌉, clamped to [1, maxSeconds].
 *
 * A message still queued at Twilio after that expires with status `failed`/30036 and a status
 * callback, instead of being delivered hours late or silently sitting in the queue. When the
 * uncapped value exceeds `maxSeconds`, the backlog cannot drain in time at this pace: keep such
 * messages on our side (see {@link maxBacklogFor}) rather than handing them to Twilio.
 */
export function validityPeriodSeconds(input: ValidityInput): number {
  const { backlog, rate } = input;
  const maxSeconds = input.maxSeconds ?? TWILIO_MAX_VALIDITY_SECONDS;
  const marginSeconds = input.marginSeconds ?? 60;
  const marginRatio = input.marginRatio ?? 0.25;
  if (!Number.isFinite(backlog) || backlog < 0) throw new RangeError(`backlog must be ≥ 0, got ${backlog}`);
  if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`rate must be > 0, got ${rate}`);
  if (!Number.isFinite(maxSeconds) || maxSeconds < 1) throw new RangeError(`maxSeconds must be ≥ 1, got ${maxSeconds}`);
  if (marginSeconds < 0 || marginRatio < 0) throw new RangeError('margins must be ≥ 0');
  const seconds = Math.ceil(((backlog + 1) / rate) * (1 + marginRatio) + marginSeconds);
  return Math.min(Math.max(seconds, 1), Math.floor(maxSeconds));
}

/**
 * The largest backlog whose last message still gets an uncapped {@link validityPeriodSeconds}
 * (so nothing in it can expire in Twilio's queue at this pace); 0 also when the pace is too slow
 * for even a single message.
 */
export function maxBacklogFor(input: Omit<ValidityInput, 'backlog'>): number {
  const maxSeconds = input.maxSeconds ?? TWILIO_MAX_VALIDITY_SECONDS;
  const marginSeconds = input.marginSeconds ?? 60;
  const marginRatio = input.marginRatio ?? 0.25;
  if (!Number.isFinite(input.rate) || input.rate <= 0) throw new RangeError(`rate must be > 0, got ${input.rate}`);
  const fits = Math.floor(((maxSeconds - marginSeconds) / (1 + marginRatio)) * input.rate) - 1;
  return Math.max(0, fits);
}
