import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeTwilioSignature } from '@breachwave/testkit';
import { twilioSignature, validateTwilioSignature } from './twilio-signature.js';

const token = '12345';
// The example from Twilio's webhook security documentation.
const docUrl = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const docParams = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };

describe('Twilio request signatures', () => {
  it('matches the documented example and the test kit', () => {
    assert.equal(twilioSignature(token, docUrl, docParams), computeTwilioSignature(token, docUrl, docParams));
    assert.equal(twilioSignature(token, docUrl, docParams), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    assert.ok(validateTwilioSignature(token, '0/KCTR6DLpKmkAf8muzZqo1nDgQ=', docUrl, docParams));
  });

  it('rejects a changed parameter, URL, token or a missing signature', () => {
    const sig = twilioSignature(token, docUrl, docParams);
    assert.ok(!validateTwilioSignature(token, sig, docUrl, { ...docParams, Digits: '1235' }));
    assert.ok(!validateTwilioSignature(token, sig, `${docUrl}&x=1`, docParams));
    assert.ok(!validateTwilioSignature('54321', sig, docUrl, docParams));
    assert.ok(!validateTwilioSignature(token, undefined, docUrl, docParams));
    assert.ok(!validateTwilioSignature(token, '', docUrl, docParams));
    assert.ok(!validateTwilioSignature(token, 'short', docUrl, docParams));
  });

  it('accepts the URL with or without the default port, as the SDK does', () => {
    const sig = twilioSignature(token, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', docParams);
    assert.ok(validateTwilioSignature(token, sig, docUrl, docParams));
    const sig2 = twilioSignature(token, docUrl, docParams);
    assert.ok(validateTwilioSignature(token, sig2, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', docParams));
    assert.ok(!validateTwilioSignature(token, sig2, 'https://other.example.com/myapp.php?foo=1&bar=2', docParams));
  });

  it('signs repeated parameters with each distinct value, sorted', () => {
    const a = twilioSignature(token, docUrl, { MediaUrl: ['b', 'a', 'b'] });
    const b = twilioSignature(token, docUrl, { MediaUrl: ['a', 'b'] });
    assert.equal(a, b);
  });
});
