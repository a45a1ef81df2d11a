import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_REACHABLE_CHANNEL, channelsFor, chooseChannel, normaliseEmail, normalisePhone, parseAccountRow } from './account.js';
import { planActions, DEFAULT_ACTION_RULES } from './wave.js';
import { renderNotice } from './templates.js';

const ok = (row: Record<string, string>) => {
  const r = parseAccountRow(row);
  if (!r.ok) assert.fail(`expected ok, got ${r.reason}`);
  return r.account;
};
const bad = (row: Record<string, string>) => {
  const r = parseAccountRow(row);
  if (r.ok) assert.fail('expected a rejection');
  return r;
};

test('phones normalise to E.164 and emails to lower case', () => {
  assert.equal(normalisePhone('(202) 555-0143')?.e164, '+12025550143');
  assert.equal(normalisePhone('+1 312 555 0199')?.e164, '+13125550199');
  assert.equal(normalisePhone('12345'), undefined);
  assert.equal(normaliseEmail('  Ana.Lopez@Example.COM '), 'ana.lopez@example.com');
  assert.equal(normaliseEmail('not-an-email'), undefined);
});

test('a valid row becomes a minimised account', () => {
  const a = ok({ account_id: 'A-1', segment: 'Prepaid-Active', phone: '202-555-0143', email: 'X@Example.com', time_zone: 'America/Chicago', locale: 'es-MX', exposed: 'name;phone;PIN' });
  assert.deepEqual(a, { accountId: 'A-1', segment: 'prepaid-active', phone: '+12025550143', phoneIsMobile: true, email: 'x@example.com', timeZone: 'America/Chicago', locale: 'es', exposed: ['name', 'phone', 'pin'] });
});

test('bad rows are rejected with a reason that never echoes the value', () => {
  const cases: [Record<string, string>, string][] = [
    [{ account_id: '', segment: 'former', email: 'a@example.com' }, 'account_id'],
    [{ account_id: 'bad id!', segment: 'former', email: 'a@example.com' }, 'account_id'],
    [{ account_id: 'A', segment: 'vip', email: 'a@example.com' }, 'segment'],
    [{ account_id: 'A', segment: 'former', phone: '555-CALL-NOW' }, 'phone'],
    [{ account_id: 'A', segment: 'former', email: 'secret-person@@example' }, 'email'],
    [{ account_id: 'A', segment: 'former' }, 'phone'],
    [{ account_id: 'A', segment: 'former', phone: '(800) 555-0199' }, 'phone'],
    [{ account_id: 'A', segment: 'former', email: 'a@example.com', exposed: 'name;soul' }, 'exposed'],
  ];
  for (const [row, field] of cases) {
    const r = bad(row);
    assert.equal(r.field, field, JSON.stringify(row));
    for (const v of Object.values(row)) if (v.length > 3) assert.ok(!r.reason.includes(v), `reason echoes ${v}`);
  }
});

test('a bad contact point beside a working one is a warning, not a reject; the bad one is dropped', () => {
  const r = (row: Record<string, string>) => {
    const res = parseAccountRow({ account_id: 'A', segment: 'former', ...row });
    if (!res.ok) assert.fail(`expected ok, got ${res.reason}`);
    return res;
  };
  const noPhone = r({ phone: '555-CALL-NOW', email: 'a@example.com' });
  assert.deepEqual([noPhone.account.phone, noPhone.account.email, noPhone.warnings], [undefined, 'a@example.com', ['phone_invalid']]);
  const noEmail = r({ phone: '(202) 555-0143', email: 'a.at.example.com' });
  assert.deepEqual([noEmail.account.phone, noEmail.account.email, noEmail.warnings], ['+12025550143', undefined, ['email_invalid']]);
  const two = r({ phone: '(202) 555-0143', email: 'First@Example.com; second@example.net' });
  assert.deepEqual([two.account.email, two.warnings], ['first@example.com', ['email_multiple']]);
  const junkFirst = r({ email: 'n/a, b@example.com' });
  assert.deepEqual([junkFirst.account.email, junkFirst.warnings], ['b@example.com', ['email_multiple']]);
  const both = r({ phone: '12345', email: 'x@example.com b@example.com' });
  assert.deepEqual(both.warnings, ['phone_invalid', 'email_multiple']);
  // A landline beside an email: accepted, notified by email.
  const landline = r({ phone: '+44 20 7946 0958', email: 'l@example.com' });
  assert.deepEqual([landline.account.phoneIsMobile, chooseChannel(landline.account), landline.warnings], [false, 'email', []]);
  assert.deepEqual(r({ phone: '(202) 555-0143', email: 'a@example.com' }).warnings, []);
});

test('time zones: every zone the runtime can format is kept; another is dropped with a warning (quiet hours then follow the area code)', () => {
  for (const zone of ['UTC', 'US/Eastern', 'America/Indiana/Indianapolis', 'America/Kentucky/Louisville', 'Asia/Kolkata', 'EST', 'America/Chicago']) {
    const res = parseAccountRow({ account_id: 'A', segment: 'former', phone: '(202) 555-0143', time_zone: ` ${zone} ` });
    assert.ok(res.ok, zone);
    assert.equal(res.account.timeZone, zone);
    assert.deepEqual(res.warnings, [], zone);
  }
  const mars = parseAccountRow({ account_id: 'A', segment: 'former', phone: '(202) 555-0143', time_zone: 'Mars/Olympus' });
  assert.ok(mars.ok);
  assert.equal(mars.account.timeZone, undefined);
  assert.deepEqual(mars.warnings, ['time_zone_unknown']);
});

test('old-format Mexican mobiles are normalised; IDN email domains become punycode', () => {
  assert.equal(normalisePhone('+52 1 55 1234 5678')?.e164, '+525512345678');
  assert.equal(normalisePhone('+5215512345678')?.e164, '+525512345678');
  assert.equal(normalisePhone('0052 1 (998) 123-4567')?.e164, '+529981234567');
  assert.equal(normalisePhone('+52 55 1234 5678')?.e164, '+525512345678');
  assert.equal(normaliseEmail('Pat@Müller.DE'), 'pat@xn--mller-kva.de');
  assert.equal(normaliseEmail('ana@ñandú.example'), 'ana@xn--and-6ma2c.example');
  assert.equal(normaliseEmail('josé@example.com'), undefined, 'a non-ASCII local part needs SMTPUTF8');
});

test('a row nobody can be reached on, or with other bad fields, lists every problem and its account_id', () => {
  const landline = parseAccountRow({ account_id: 'L-1', segment: 'former', phone: '(800) 555-0199' });
  assert.ok(!landline.ok);
  assert.deepEqual(landline.problems, [{ field: 'phone', reason: NO_REACHABLE_CHANNEL }]);
  assert.equal(landline.accountId, 'L-1');
  const all = parseAccountRow({ account_id: 'bad id!', segment: 'vip', phone: '555-CALL-NOW', email: 'x@@example', exposed: 'name;soul' });
  assert.ok(!all.ok);
  assert.deepEqual(all.problems.map((p) => p.field), ['account_id', 'segment', 'phone', 'email', 'exposed']);
  assert.equal(all.accountId, undefined, 'an invalid id is not echoed');
  assert.equal(all.field, 'account_id');
  const unreachable = parseAccountRow({ account_id: 'U1', segment: 'former', phone: '+44 20 7946 0958', email: 'nope' });
  assert.ok(!unreachable.ok);
  assert.deepEqual(unreachable.problems, [{ field: 'email', reason: 'invalid email address' }, { field: 'phone', reason: NO_REACHABLE_CHANNEL }]);
});

test('channel: SMS for a mobile number, else email', () => {
  assert.equal(chooseChannel({ phone: '+12025550143', phoneIsMobile: true, email: 'a@example.com' }), 'sms');
  assert.equal(chooseChannel({ phone: '+12025550143', phoneIsMobile: false, email: 'a@example.com' }), 'email');
  assert.equal(chooseChannel({ email: 'a@example.com' }), 'email');
  assert.equal(chooseChannel({}), undefined);
});

test('channel rule: the channels a notice may use, in the order tried; no SMS fallback for a landline', () => {
  assert.deepEqual(channelsFor({ phone: '+12025550143', phoneIsMobile: true, email: 'a@example.com' }), ['sms', 'email']);
  assert.deepEqual(channelsFor({ phone: '+12025550143', email: 'a@example.com' }), ['sms', 'email'], 'a phone of unknown type counts as mobile');
  assert.deepEqual(channelsFor({ phone: '+12025550143', phoneIsMobile: false, email: 'a@example.com' }), ['email']);
  assert.deepEqual(channelsFor({ phone: '+12025550143', phoneIsMobile: false }), []);
  assert.deepEqual(channelsFor({ phone: '+12025550143' }), ['sms']);
  assert.deepEqual(channelsFor({}), []);
});

test('channel policy: a wave\'s order per segment decides the channels and their order; a channel left out is never used', () => {
  const both = { phone: '+12025550143', phoneIsMobile: true, email: 'a@example.com' } as const;
  const policy = { order: ['email', 'sms'], segments: { former: ['email'], 'prepaid-active': ['sms'] } } as const;
  assert.deepEqual(channelsFor({ ...both, segment: 'postpaid-current' }, policy), ['email', 'sms'], 'the default order of the policy');
  assert.deepEqual(channelsFor({ ...both, segment: 'former' }, policy), ['email'], 'a segment\'s own list; SMS never used');
  assert.deepEqual(channelsFor({ ...both, segment: 'prepaid-active' }, policy), ['sms']);
  assert.deepEqual(channelsFor({ email: 'a@example.com', segment: 'prepaid-active' }, policy), [], 'no channel the policy allows reaches the account');
  assert.equal(chooseChannel({ ...both, segment: 'former' }, policy), 'email');
  // Without a policy, or with an empty one, today's rule.
  assert.deepEqual(channelsFor({ ...both, segment: 'former' }), ['sms', 'email']);
  assert.deepEqual(channelsFor({ ...both, segment: 'former' }, {}), ['sms', 'email']);
});

test('actions are ordered rotate → code → notify, notify always', () => {
  const manifest = { rules: {} };
  assert.deepEqual(planActions({ segment: 'prepaid-active', exposed: ['pin'] }, manifest), ['notify']);
  const ruled = { rules: DEFAULT_ACTION_RULES };
  assert.deepEqual(planActions({ segment: 'prepaid-active', exposed: ['name', 'pin'] }, ruled), ['rotate-pin', 'notify']);
  assert.deepEqual(planActions({ segment: 'prepaid-active', exposed: ['name'] }, ruled), ['notify']);
  assert.deepEqual(planActions({ segment: 'former', exposed: ['ssn'] }, ruled), ['issue-code', 'notify']);
  assert.deepEqual(planActions({ segment: 'prepaid-active', exposed: ['pin', 'drivers-license'] }, ruled), ['rotate-pin', 'issue-code', 'notify']);
  assert.deepEqual(planActions({ segment: 'former', exposed: ['ssn'] }, { rules: { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'] } }), ['notify']);
});

test('notices render per channel and locale, and escape HTML', () => {
  const vars = { brand: 'Example <Wireless>', helpUrl: 'https://help.example.com', exposed: ['name', 'pin'] as const, firstName: 'Ana' };
  const sms = renderNotice('sms', 'en', vars);
  assert.equal(sms.channel, 'sms');
  if (sms.channel === 'sms') assert.match(sms.body, /your name and account PIN\..*Reply STOP/);
  const es = renderNotice('email', 'es', vars);
  if (es.channel !== 'email') assert.fail();
  assert.match(es.subject, /aviso importante/);
  assert.match(es.text, /^Estimado\/a Ana:/);
  assert.match(es.html, /Example &lt;Wireless&gt;/);
});
