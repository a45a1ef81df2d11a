import { nextSendTime } from './clock.js';
import { quietWindowFor, type QuietHoursOverrides, type QuietWindow } from './windows.js';
import { resolveRecipientZone, type RecipientZone, type RecipientZoneInput } from './zone.js';

/** Everything {@link planSend} needs about one SMS. */
export interface PlanSendInput extends RecipientZoneInput {
  readonly now: Date;
  readonly overrides?: QuietHoursOverrides;
  /**
   * When the area code spans zones, wait until the window is open in all of them (default
   * true: a recipient on the minority side is never messaged outside their window).
   */
  readonly allZones?: boolean;
}

/** When one SMS may go out, and why. */
export interface SendPlan extends RecipientZone {
  /** `now` when inside the window, else the next opening. */
  readonly sendAt: Date;
  /** `sendAt - now` in ms; 0 means send now, anything else means defer (never drop). */
  readonly delayMs: number;
  /** The window that was applied. */
  readonly window: QuietWindow;
}

/**
 * Resolves the recipient's zone and window and returns when the SMS may be sent: the one call a
 * notifier needs before sending (defer the job by `delayMs` when it is not 0).
 *
 * @throws BreachwaveError `BW_INPUT_INVALID` for an invalid wave default zone; RangeError for a
 * malformed window override.
 */
export function planSend(input: PlanSendInput): SendPlan {
  const resolved = resolveRecipientZone(input);
  const window = quietWindowFor(resolved, input.overrides);
  const zones = input.allZones === false ? [resolved.zone] : [resolved.zone, ...(resolved.otherZones ?? [])];
  const sendAt = nextSendTime(input.now, zones, window);
  return { ...resolved, sendAt, delayMs: sendAt.getTime() - input.now.getTime(), window };
}
