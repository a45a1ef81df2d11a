import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BreachwaveError } from '@breachwave/domain';
import { AREA_CODES } from '@breachwave/synth';
import {
  FEDERAL_WINDOW,
  NANP_AREA_CODES,
  STATE_WINDOWS,
  delayUntilAllowed,
  isValidTimeZone,
  localTime,
  nextSendTime,
  planSend,
  quietWindowFor,
  resolveRecipientZone,
  weekMinutes,
} from './index.js';

// Every instant below is a fixed UTC time: the clock is the test's, never the machine's.
const at = (iso: string) => new Date(iso);
const NY = 'America/New_York';
const PHX = 'America/Phoenix';

describe('window edges (America/New_York, EDT = UTC−4)', () => {
  const next = (iso: string) => nextSendTime(at(iso), NY, FEDERAL_WINDOW).toISOString();

  test('07:59:59 waits until 08:00 local', () => {
    assert.equal(next('2025-06-10T11:59:59.000Z'), '2025-06-10T12:00:00.000Z');
    assert.equal(delayUntilAllowed(at('2025-06-10T11:59:59.000Z'), NY, FEDERAL_WINDOW), 1000);
  });
  test('08:00 sends now', () => {
    assert.equal(next('2025-06-10T12:00:00.000Z'), '2025-06-10T12:00:00.000Z');
  });
  test('20:59 and 20:59:59.999 send now', () => {
    assert.equal(next('2025-06-11T00:59:00.000Z'), '2025-06-11T00:59:00.000Z');
    assert.equal(next('2025-06-11T00:59:59.999Z'), '2025-06-11T00:59:59.999Z');
  });
  test('21:00 waits until 08:00 the next day', () => {
    assert.equal(next('2025-06-11T01:00:00.000Z'), '2025-06-11T12:00:00.000Z');
  });
  test('just after midnight waits until 08:00 the same local day', () => {
    assert.equal(next('2025-06-11T04:05:00.000Z'), '2025-06-11T12:00:00.000Z');
  });
});

describe('DST in America/New_York (2025: spring forward 9 March, fall back 2 November)', () => {
  test('evening before spring-forward: opens at 08:00 EDT, 9.5 h later rather than 10.5', () => {
    const now = at('2025-03-09T02:30:00.000Z'); // Sat 8 March 21:30 EST
    assert.equal(localTime(now, NY), '2025-03-08T21:30:00');
    const send = nextSendTime(now, NY, FEDERAL_WINDOW);
    assert.equal(send.toISOString(), '2025-03-09T12:00:00.000Z');
    assert.equal(localTime(send, NY), '2025-03-09T08:00:00');
    assert.equal(send.getTime() - now.getTime(), 9.5 * 3_600_000);
  });
  test('spring-forward day edges follow EDT', () => {
    assert.equal(nextSendTime(at('2025-03-09T11:59:59.000Z'), NY, FEDERAL_WINDOW).toISOString(), '2025-03-09T12:00:00.000Z');
    assert.equal(nextSendTime(at('2025-03-10T00:59:00.000Z'), NY, FEDERAL_WINDOW).toISOString(), '2025-03-10T00:59:00.000Z');
    assert.equal(nextSendTime(at('2025-03-10T01:00:00.000Z'), NY, FEDERAL_WINDOW).toISOString(), '2025-03-10T12:00:00.000Z');
  });
  test('evening before fall-back: opens at 08:00 EST, 12 h later rather than 11', () => {
    const now = at('2025-11-02T01:00:00.000Z'); // Sat 1 November 21:00 EDT
    assert.equal(localTime(now, NY), '2025-11-01T21:00:00');
    const send = nextSendTime(now, NY, FEDERAL_WINDOW);
    assert.equal(send.toISOString(), '2025-11-02T13:00:00.000Z');
    assert.equal(send.getTime() - now.getTime(), 12 * 3_600_000);
  });
  test('fall-back day edges follow EST', () => {
    assert.equal(nextSendTime(at('2025-11-02T12:59:59.000Z'), NY, FEDERAL_WINDOW).toISOString(), '2025-11-02T13:00:00.000Z');
    assert.equal(nextSendTime(at('2025-11-03T01:59:00.000Z'), NY, FEDERAL_WINDOW).toISOString(), '2025-11-03T01:59:00.000Z');
    assert.equal(nextSendTime(at('2025-11-03T02:00:00.000Z'), NY, FEDERAL_WINDOW).toISOString(), '2025-11-03T13:00:00.000Z');
  });
  test('an opening inside the spring-forward gap happens when the clock jumps past it', () => {
    const w = { start: '02:30', end: '21:00' };
    assert.equal(nextSendTime(at('2025-03-09T06:00:00.000Z'), NY, w).toISOString(), '2025-03-09T07:00:00.000Z');
  });
  test('an opening inside the repeated fall-back hour happens at its first occurrence', () => {
    const w = { start: '01:30', end: '21:00' };
    assert.equal(nextSendTime(at('2025-11-02T04:00:00.000Z'), NY, w).toISOString(), '2025-11-02T05:30:00.000Z');
    // The wall clock rules: back at 01:10 EST the window is closed again until 01:30 EST.
    assert.equal(nextSendTime(at('2025-11-02T06:10:00.000Z'), NY, w).toISOString(), '2025-11-02T06:30:00.000Z');
  });
});

describe('America/Phoenix (no DST)', () => {
  test('the same UTC opening in winter, on the eastern DST days, and in summer', () => {
    for (const day of ['2025-01-15', '2025-03-09', '2025-07-01', '2025-11-02']) {
      assert.equal(nextSendTime(at(`${day}T14:59:59.000Z`), PHX, FEDERAL_WINDOW).toISOString(), `${day}T15:00:00.000Z`);
      assert.equal(nextSendTime(at(`${day}T15:00:00.000Z`), PHX, FEDERAL_WINDOW).toISOString(), `${day}T15:00:00.000Z`);
    }
  });
  test('21:00 MST waits until 08:00 MST the next day', () => {
    assert.equal(nextSendTime(at('2025-07-02T04:00:00.000Z'), PHX, FEDERAL_WINDOW).toISOString(), '2025-07-02T15:00:00.000Z');
    assert.equal(nextSendTime(at('2025-07-02T03:59:00.000Z'), PHX, FEDERAL_WINDOW).toISOString(), '2025-07-02T03:59:00.000Z');
  });
});

describe('state windows', () => {
  test('FL is 08:00–20:00 and a Miami number follows it', () => {
    assert.deepEqual(quietWindowFor({ state: 'FL' }), { start: '08:00', end: '20:00' });
    const base = { phoneE164: '+13055550123', waveDefaultZone: 'America/Chicago' };
    const open = planSend({ ...base, now: at('2025-06-10T23:59:00.000Z') }); // 19:59 EDT
    assert.equal(open.delayMs, 0);
    assert.equal(open.state, 'FL');
    const closed = planSend({ ...base, now: at('2025-06-11T00:00:00.000Z') }); // 20:00 EDT
    assert.equal(closed.sendAt.toISOString(), '2025-06-11T12:00:00.000Z');
    assert.equal(closed.delayMs, 12 * 3_600_000);
  });
  test('CT opens at 09:00', () => {
    assert.deepEqual(quietWindowFor({ state: 'ct' }), { start: '09:00', end: '20:00' });
    const p = planSend({ phoneE164: '+12035550123', waveDefaultZone: NY, now: at('2025-06-10T12:30:00.000Z') }); // 08:30 EDT
    assert.equal(p.sendAt.toISOString(), '2025-06-10T13:00:00.000Z');
  });
  test('TX opens at noon on Sundays', () => {
    const w = quietWindowFor({ state: 'TX' });
    assert.deepEqual(w, { start: '09:00', end: '21:00', days: { sun: { start: '12:00', end: '21:00' } } });
    // Sunday 15 June 2025, 10:00 CDT
    assert.equal(nextSendTime(at('2025-06-15T15:00:00.000Z'), 'America/Chicago', w).toISOString(), '2025-06-15T17:00:00.000Z');
  });
  test('a state without a rule gets the base window; a stricter wave default narrows a state rule', () => {
    assert.deepEqual(quietWindowFor({ state: 'NY' }), FEDERAL_WINDOW);
    assert.deepEqual(quietWindowFor({}), FEDERAL_WINDOW);
    assert.deepEqual(quietWindowFor({ state: 'FL' }, { default: { start: '09:00', end: '21:00' } }), { start: '09:00', end: '20:00' });
    assert.deepEqual(quietWindowFor({ state: 'FL' }, { states: { FL: null } }), FEDERAL_WINDOW);
  });
  test('every shipped state window is valid and no looser than the federal one', () => {
    for (const [state, w] of Object.entries(STATE_WINDOWS)) {
      for (const day of weekMinutes(w)) {
        if (day) assert.ok(day.start >= 8 * 60 && day.end <= 21 * 60, state);
      }
    }
  });
  test('a malformed or never-open window is refused', () => {
    assert.throws(() => quietWindowFor({}, { default: { start: '8:00', end: '21:00' } }), RangeError);
    assert.throws(() => quietWindowFor({}, { default: { start: '21:00', end: '08:00' } }), RangeError);
    const never = { start: '08:00', end: '21:00', days: { sun: null, mon: null, tue: null, wed: null, thu: null, fri: null, sat: null } };
    assert.throws(() => nextSendTime(at('2025-06-10T12:00:00.000Z'), NY, never), /never opens/);
  });
});

describe('recipient zone', () => {
  test("the account's zone wins; the state still comes from the area code", () => {
    assert.deepEqual(resolveRecipientZone({ timeZone: 'America/Denver', phoneE164: '+13055550123', waveDefaultZone: NY }), {
      zone: 'America/Denver',
      state: 'FL',
      source: 'account',
      reasons: [],
    });
  });
  test('no account zone: the area code decides', () => {
    assert.deepEqual(resolveRecipientZone({ phoneE164: '+12135550101', waveDefaultZone: NY }), {
      zone: 'America/Los_Angeles',
      state: 'CA',
      source: 'area-code',
      reasons: ['no-account-zone'],
    });
  });
  test('an invalid account zone falls back, with the reason', () => {
    const r = resolveRecipientZone({ timeZone: 'Mars/Olympus_Mons', phoneE164: '+16025550101', waveDefaultZone: NY });
    assert.deepEqual(r, { zone: PHX, state: 'AZ', source: 'area-code', reasons: ['account-zone-invalid'] });
    const d = resolveRecipientZone({ timeZone: 'Mars/Olympus_Mons', waveDefaultZone: 'America/Chicago' });
    assert.deepEqual(d, { zone: 'America/Chicago', source: 'wave-default', reasons: ['account-zone-invalid', 'no-phone'] });
  });
  test('the wave default when the number tells nothing', () => {
    const def = (phoneE164?: string) => resolveRecipientZone({ phoneE164, waveDefaultZone: 'America/Chicago' });
    assert.deepEqual(def('+18005550100').reasons, ['no-account-zone', 'area-code-unknown']); // toll-free
    assert.deepEqual(def('+442079460123').reasons, ['no-account-zone', 'phone-not-nanp']);
    assert.deepEqual(def(undefined), { zone: 'America/Chicago', source: 'wave-default', reasons: ['no-account-zone', 'no-phone'] });
  });
  test('aliases are valid zones; an invalid wave default is an input error', () => {
    assert.equal(resolveRecipientZone({ timeZone: 'US/Eastern', waveDefaultZone: NY }).source, 'account');
    assert.throws(
      () => resolveRecipientZone({ timeZone: NY, waveDefaultZone: 'Eastern' }),
      (err: unknown) => err instanceof BreachwaveError && err.code === 'BW_INPUT_INVALID',
    );
    assert.throws(() => nextSendTime(at('2025-06-10T12:00:00.000Z'), 'Nowhere/Land', FEDERAL_WINDOW), RangeError);
  });
  test('an area code spanning zones waits until the window is open on both sides', () => {
    // 850 (Florida panhandle): Central for the majority, Eastern for Tallahassee; FL window 08:00–20:00.
    const base = { phoneE164: '+18505550123', waveDefaultZone: NY };
    const morning = planSend({ ...base, now: at('2025-06-10T12:30:00.000Z') }); // 07:30 CDT = 08:30 EDT
    assert.equal(morning.zone, 'America/Chicago');
    assert.deepEqual(morning.otherZones, [NY]);
    assert.equal(morning.sendAt.toISOString(), '2025-06-10T13:00:00.000Z'); // 08:00 CDT
    const evening = planSend({ ...base, now: at('2025-06-11T00:30:00.000Z') }); // 19:30 CDT = 20:30 EDT
    assert.equal(evening.sendAt.toISOString(), '2025-06-11T13:00:00.000Z');
    assert.equal(planSend({ ...base, now: at('2025-06-11T00:30:00.000Z'), allZones: false }).delayMs, 0);
  });
});

describe('the NANP table', () => {
  test('holds every area code the synthetic generator uses', () => {
    for (const code of AREA_CODES) assert.ok(NANP_AREA_CODES[code], `area code ${code} missing`);
  });
  test('every entry has a valid zone, a two-letter region and a geographic code', () => {
    const codes = Object.keys(NANP_AREA_CODES);
    assert.ok(codes.length > 380, `only ${codes.length} codes`);
    for (const [code, e] of Object.entries(NANP_AREA_CODES)) {
      assert.match(code, /^[2-9]\d\d$/);
      assert.ok(!/^(8(00|33|44|55|66|77|88)|500|600|700|900)$/.test(code), `${code} is not geographic`);
      assert.match(e.region, /^[A-Z]{2}$/);
      for (const z of [e.zone, ...(e.otherZones ?? [])]) assert.ok(isValidTimeZone(z), `${code}: ${z}`);
    }
  });
  test('spot checks', () => {
    assert.deepEqual(NANP_AREA_CODES['915'], { region: 'TX', zone: 'America/Denver' });
    assert.deepEqual(NANP_AREA_CODES['219'], { region: 'IN', zone: 'America/Chicago' });
    assert.deepEqual(NANP_AREA_CODES['808'], { region: 'HI', zone: 'Pacific/Honolulu' });
    assert.deepEqual(NANP_AREA_CODES['306'], { region: 'SK', zone: 'America/Regina' });
    assert.equal(NANP_AREA_CODES['907']?.zone, 'America/Anchorage');
  });
});
