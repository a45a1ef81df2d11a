import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DELIVERY_STATES, isTerminalDeliveryState, nextDeliveryState, parseTwilioMessageStatus, type DeliveryState } from './delivery-state.js';

/** Folds a sequence of statuses through the machine. */
function fold(seq: readonly DeliveryState[]): DeliveryState | undefined {
  let s: DeliveryState | undefined;
  for (const x of seq) s = nextDeliveryState(s, x).state;
  return s;
}

/** Every permutation of `xs`. */
function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('nextDeliveryState', () => {
  it('moves forward in order', () => {
    assert.deepEqual(nextDeliveryState(undefined, 'queued'), { state: 'queued', changed: true, reason: 'first' });
    assert.deepEqual(nextDeliveryState('queued', 'sending'), { state: 'sending', changed: true, reason: 'advanced' });
    assert.deepEqual(nextDeliveryState('sending', 'sent'), { state: 'sent', changed: true, reason: 'advanced' });
    assert.deepEqual(nextDeliveryState('sent', 'delivered'), { state: 'delivered', changed: true, reason: 'advanced' });
    assert.deepEqual(nextDeliveryState('queued', 'undelivered'), { state: 'undelivered', changed: true, reason: 'advanced' });
  });

  it('duplicates are no-ops and late earlier states are ignored', () => {
    assert.deepEqual(nextDeliveryState('sent', 'sent'), { state: 'sent', changed: false, reason: 'duplicate' });
    assert.deepEqual(nextDeliveryState('sent', 'queued'), { state: 'sent', changed: false, reason: 'stale' });
    assert.deepEqual(nextDeliveryState('sending', 'queued'), { state: 'sending', changed: false, reason: 'stale' });
  });

  it('terminal states never regress nor switch to another terminal state', () => {
    for (const t of ['delivered', 'undelivered', 'failed'] as const) {
      assert.ok(isTerminalDeliveryState(t));
      for (const x of DELIVERY_STATES) {
        const step = nextDeliveryState(t, x);
        assert.equal(step.state, t);
        assert.equal(step.changed, false);
      }
    }
  });

  it('any arrival order of one message\'s callbacks ends in its terminal state', () => {
    for (const terminal of ['delivered', 'undelivered', 'failed'] as const) {
      for (const order of permutations<DeliveryState>(['queued', 'sending', 'sent', terminal])) {
        assert.equal(fold(order), terminal, order.join(' > '));
        assert.equal(fold([...order, ...order.slice().reverse()]), terminal, 'with duplicates');
      }
    }
  });

  it('without a terminal state, the furthest state wins whatever the order', () => {
    for (const order of permutations<DeliveryState>(['queued', 'sending', 'sent'])) assert.equal(fold(order), 'sent');
  });
});

describe('parseTwilioMessageStatus', () => {
  it('maps Twilio\'s outbound statuses', () => {
    assert.equal(parseTwilioMessageStatus('accepted'), 'queued');
    assert.equal(parseTwilioMessageStatus('queued'), 'queued');
    assert.equal(parseTwilioMessageStatus('sending'), 'sending');
    assert.equal(parseTwilioMessageStatus('SENT'), 'sent');
    assert.equal(parseTwilioMessageStatus('delivered'), 'delivered');
    assert.equal(parseTwilioMessageStatus('read'), 'delivered');
    assert.equal(parseTwilioMessageStatus('undelivered'), 'undelivered');
    assert.equal(parseTwilioMessageStatus('failed'), 'failed');
    assert.equal(parseTwilioMessageStatus('canceled'), 'failed');
  });
  it('rejects anything else', () => {
    for (const s of ['received', 'receiving', '', 'deliverd', 'DROP TABLE']) assert.equal(parseTwilioMessageStatus(s), undefined);
  });
});
