import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSmsTemplates, smsSegments } from './sms.js';

test('segments: GSM-7 160/153, extension characters count twice, one UCS-2 character switches 70/67', () => {
  assert.deepEqual(smsSegments('a'.repeat(160)), { encoding: 'GSM-7', units: 160, segments: 1 });
  assert.deepEqual(smsSegments('a'.repeat(161)), { encoding: 'GSM-7', units: 161, segments: 2 });
  assert.deepEqual(smsSegments('a'.repeat(306)), { encoding: 'GSM-7', units: 306, segments: 2 });
  assert.equal(smsSegments('€'.repeat(80)).units, 160);
  assert.equal(smsSegments('€'.repeat(81)).segments, 2);
  assert.deepEqual(smsSegments('í' + 'a'.repeat(69)), { encoding: 'UCS-2', units: 70, segments: 1 });
  assert.equal(smsSegments('í' + 'a'.repeat(70)).segments, 2);
  assert.equal(smsSegments('é'.repeat(160)).encoding, 'GSM-7', 'é is in the GSM-7 basic set');
});

test('the template check reports variants over budget and nothing under a generous one', () => {
  const base = { brand: 'Example Wireless', helpUrl: 'https://breach-help.example.com' };
  assert.deepEqual(checkSmsTemplates(base, 10), []);
  const tight = checkSmsTemplates(base, 1);
  assert.equal(tight.length, 12, 'every locale and variant is over one segment once every category is named');
  assert.ok(tight.every((w) => w.encoding === 'GSM-7'), 'the SMS texts use no character outside GSM-7');
});

test('a brand outside GSM-7 is measured too: it makes the SMS UCS-2', () => {
  const warnings = checkSmsTemplates({ brand: 'Telefonía Ejemplo', helpUrl: 'https://breach-help.example.com' }, 3);
  assert.ok(warnings.length > 0 && warnings.every((w) => w.encoding === 'UCS-2'));
});
