import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseChannel, normaliseEmail, normalisePhone, parseAccountRow } from './account.js';
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
    [{ account_id: 'A', segment: 'former', email: 'a@example.com', time_zone: 'Mars/Olympus' }, 'time_zone'],
    [{ account_id: 'A', segment: 'former', email: 'a@example.com', exposed: 'name;soul' }, 'exposed'],
  ];
  for (const [row, field] of cases) {
    const r = bad(row);
    assert.equal(r.field, field, JSON.stringify(row));
    for (const v of Object.values(row)) if (v.length > 3) assert.ok(!r.reason.includes(v), `reason echoes ${v}`);
  }
});

test('channel: SMS for a mobile number, else email', () => {
  assert.equal(chooseChannel({ phone: '+12025550143', phoneIsMobile: true, email: 'a@example.com' }), 'sms');
  assert.equal(chooseChannel({ phone: '+12025550143', phoneIsMobile: false, email: 'a@example.com' }), 'email');
  assert.equal(chooseChannel({ email: 'a@example.com' }), 'email');
  assert.equal(chooseChannel({}), undefined);
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
