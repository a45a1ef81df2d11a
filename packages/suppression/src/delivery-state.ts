/**
 * The delivery-status state machine of one sent message. Twilio posts status callbacks out of
 * order and more than once, so the state only ever moves forward:
 * queued < sending < sent < delivered | undelivered | failed, and the first terminal state wins.
 */

export const DELIVERY_STATES = ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** Order of the states; the three terminal states share the top rank. */
export const DELIVERY_RANK: Readonly<Record<DeliveryState, number>> = {
  queued: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  undelivered: 4,
  failed: 4,
};

/** Rank from which a state is terminal. */
export const TERMINAL_RANK = 4;

/** True for `delivered`, `undelivered` and `failed`: nothing changes the state after one of them. */
export function isTerminalDeliveryState(state: DeliveryState): boolean {
  return DELIVERY_RANK[state] >= TERMINAL_RANK;
}

/**
 * Twilio `MessageStatus` values → our states. `accepted`/`scheduled` are queued at Twilio; `read`
 * (WhatsApp/RCS) implies delivered; `canceled` (a scheduled message we cancelled) never reaches
 * anyone, so it counts as failed. Inbound-only statuses (`receiving`, `received`) are not here.
 */
const TWILIO_STATUS: ReadonlyMap<string, DeliveryState> = new Map<string, DeliveryState>([
  ['accepted', 'queued'],
  ['scheduled', 'queued'],
  ['queued', 'queued'],
  ['sending', 'sending'],
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['read', 'delivered'],
  ['undelivered', 'undelivered'],
  ['failed', 'failed'],
  ['canceled', 'failed'],
]);

/** Maps a Twilio `MessageStatus` to a {@link DeliveryState}, or `undefined` when unknown. */
export function parseTwilioMessageStatus(raw: string): DeliveryState | undefined {
  return TWILIO_STATUS.get(raw.trim().toLowerCase());
}

/** The result of applying an incoming status to the current one. */
export interface DeliveryStep {
  /** The state after the step (the current one when nothing changed). */
  readonly state: DeliveryState;
  readonly changed: boolean;
  /**
   * `first`: no state yet; `advanced`: moved forward; `duplicate`: same state again;
   * `stale`: an earlier state arrived late; `terminal`: already final, a different final state ignored.
   */
  readonly reason: 'first' | 'advanced' | 'duplicate' | 'stale' | 'terminal';
}

/**
 * Pure transition: `incoming` applies only when it ranks above `current`. Duplicates are no-ops,
 * late earlier states are ignored, and a terminal state never changes (not even to another
 * terminal state).
 */
export function nextDeliveryState(current: DeliveryState | undefined, incoming: DeliveryState): DeliveryStep {
  if (current === undefined) return { state: incoming, changed: true, reason: 'first' };
  if (current === incoming) return { state: current, changed: false, reason: 'duplicate' };
  if (isTerminalDeliveryState(current)) return { state: current, changed: false, reason: 'terminal' };
  if (DELIVERY_RANK[incoming] <= DELIVERY_RANK[current]) return { state: current, changed: false, reason: 'stale' };
  return { state: incoming, changed: true, reason: 'advanced' };
}
