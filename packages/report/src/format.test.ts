import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CSV_COLUMNS, csvCell, csvLine, csvRecord, jsonLine } from './format.js';
import { deliveryOf, outcomeRow } from './rows.js';

test('csvCell neutralises what a spreadsheet would evaluate: a leading =, +, -, @, tab or carriage return gets a quote mark', () => {
  assert.equal(csvCell('=1+2'), "'=1+2");
  assert.equal(csvCell('+1'), "'+1");
  assert.equal(csvCell('-2'), "'-2");
  assert.equal(csvCell('-A1'), "'-A1");
  assert.equal(csvCell('@SUM(A1:A9)'), "'@SUM(A1:A9)");
  assert.equal(csvCell('\t=1'), "'\t=1");
  // A carriage return also needs RFC 4180 quotes.
  assert.equal(csvCell('\r=1'), "\"'\r=1\"");
  // Only the first character counts; harmless text is left alone.
  assert.equal(csvCell('A-1'), 'A-1');
  assert.equal(csvCell('a=b'), 'a=b');
  assert.equal(csvCell("'quoted"), "'quoted");
  assert.equal(csvCell(''), '');
  assert.equal(csvCell(undefined), '');
  assert.equal(csvCell(12), '12');
  assert.equal(csvCell(true), 'yes');
  assert.equal(csvCell(false), 'no');
});

test('csvCell quotes as RFC 4180 says: commas, quotes and line breaks inside quotes, quotes doubled, after neutralising', () => {
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('two\nlines'), '"two\nlines"');
  assert.equal(csvCell('=HYPERLINK("http://evil.example/?x","click")'), '"\'=HYPERLINK(""http://evil.example/?x"",""click"")"');
  assert.equal(csvRecord(['a', '=b', 'c,d', undefined, 3]), 'a,\'=b,"c,d",,3\r\n');
});

test('a row names each action\'s state and error code, the channel, times and flags, and nothing else of the entry', () => {
  const row = outcomeRow('-7', {
    'rotate-pin': { s: 'done', n: 1, at: '2026-12-01T10:00:02.000Z', c0: '2026-12-01T10:00:01.000Z', rot: 'r-1', st: 'vault', dl: 'none' },
    notify: { s: 'done', n: 2, ch: 'sms', pid: 'SMPROVIDERID', rec: true, amb: 1, at: '2026-12-01T10:05:00.000Z', c0: '2026-12-01T10:01:00.000Z', to: '+15551234567',
      ds: 'delivered', dsSid: 'SMPROVIDERID', dsAt: '2026-12-01T10:05:03.000Z', dsCode: '0' },
  }, { segment: 'prepaid-active', line: 4 });
  assert.deepEqual(row, {
    accountId: '-7', segment: 'prepaid-active', sourceLine: 4,
    actions: { 'rotate-pin': { state: 'done', error: undefined }, notify: { state: 'done', error: undefined } },
    channel: 'sms', firstAt: '2026-12-01T10:00:01.000Z', lastAt: '2026-12-01T10:05:00.000Z',
    pinRotated: true, codeIssued: false, reconciled: true, ambiguous: true, notifiedAt: '2026-12-01T10:05:00.000Z', delivery: 'delivered',
  });
  assert.deepEqual(CSV_COLUMNS, ['account_id', 'segment', 'source_line', 'rotate_pin', 'rotate_pin_error', 'issue_code', 'issue_code_error', 'notify', 'notify_error',
    'channel', 'first_at', 'last_at', 'pin_rotated', 'code_issued', 'reconciled', 'ambiguous', 'notified_at', 'delivery']);
  assert.equal(csvLine(row), "'-7,prepaid-active,4,done,,,,done,,sms,2026-12-01T10:00:01.000Z,2026-12-01T10:05:00.000Z,yes,no,yes,yes,2026-12-01T10:05:00.000Z,delivered\r\n");
  assert.deepEqual(JSON.parse(jsonLine(row)), {
    account_id: '-7', segment: 'prepaid-active', source_line: 4,
    actions: { 'rotate-pin': { state: 'done', error: null }, notify: { state: 'done', error: null } },
    channel: 'sms', first_at: '2026-12-01T10:00:01.000Z', last_at: '2026-12-01T10:05:00.000Z',
    pin_rotated: true, code_issued: false, reconciled: true, ambiguous: true, notified_at: '2026-12-01T10:05:00.000Z', delivery: 'delivered',
  });
  for (const text of [csvLine(row), jsonLine(row)]) {
    for (const secret of ['SMPROVIDERID', '+15551234567', 'r-1', 'vault']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  }
});

test('an account not queued yet shows its planned actions as not-queued; a notice not done has no channel', () => {
  const waiting = outcomeRow('A1', undefined, { segment: 'former', line: 9, plan: ['issue-code', 'notify'] });
  assert.deepEqual(waiting.actions, { 'issue-code': { state: 'not-queued', error: undefined }, notify: { state: 'not-queued', error: undefined } });
  assert.equal(waiting.firstAt, undefined);
  const failed = outcomeRow('A2', { notify: { s: 'failed', n: 1, ch: 'sms', err: 'BW_SMS_INVALID_NUMBER', at: '2026-12-01T10:00:00.000Z' } });
  assert.equal(failed.channel, undefined);
  assert.deepEqual(failed.actions.notify, { state: 'failed', error: 'BW_SMS_INVALID_NUMBER' });
  assert.equal(failed.segment, undefined);
  assert.equal(csvLine(failed), 'A2,,,,,,,failed,BW_SMS_INVALID_NUMBER,,2026-12-01T10:00:00.000Z,2026-12-01T10:00:00.000Z,no,no,no,no,,\r\n');
  assert.equal(failed.delivery, undefined, 'no notice sent: no delivery');
  // Once the wave is cancelled, an account never queued never will be: cancelled, as the wave's progress counts it.
  const never = outcomeRow('A3', undefined, { plan: ['notify'], cancelled: true });
  assert.deepEqual(never.actions, { notify: { state: 'cancelled', error: undefined } });
});

test('delivery: what the status callbacks said of the SMS recorded as sent; unknown for an email, a message without a final status, or another message of the notice', () => {
  const sms = (extra: Record<string, unknown>) => ({ notify: { s: 'done' as const, n: 1, ch: 'sms' as const, pid: 'SM1', at: '2026-12-01T10:00:00.000Z', ...extra } });
  assert.equal(deliveryOf(sms({ ds: 'delivered', dsSid: 'SM1' }).notify), 'delivered');
  assert.equal(deliveryOf(sms({ ds: 'undelivered', dsSid: 'SM1' }).notify), 'undelivered');
  assert.equal(deliveryOf(sms({ ds: 'failed', dsSid: 'SM1' }).notify), 'undelivered');
  assert.equal(deliveryOf(sms({ ds: 'sent', dsSid: 'SM1' }).notify), 'unknown', 'not final');
  assert.equal(deliveryOf(sms({}).notify), 'unknown', 'no callback yet');
  assert.equal(deliveryOf(sms({ ds: 'delivered', dsSid: 'SM0' }).notify), 'unknown', 'the callbacks of another message of the notice');
  assert.equal(deliveryOf({ s: 'done', n: 1, ch: 'email', pid: '<m@x>', ds: 'delivered' }), 'unknown', 'an email has no callbacks to trust');
  assert.equal(deliveryOf({ s: 'pending', n: 0 }), undefined);
  // A compacted entry keeps the final state alone.
  assert.equal(deliveryOf({ s: 'done', n: 0, ch: 'sms', ds: 'undelivered', compacted: true }), 'undelivered');
  assert.equal(outcomeRow('A4', sms({ ds: 'delivered', dsSid: 'SM1' })).notifiedAt, '2026-12-01T10:00:00.000Z');
});
