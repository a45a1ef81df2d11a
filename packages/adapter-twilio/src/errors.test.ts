import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BreachwaveError, ERROR_CATALOG, type ErrorCode } from '@breachwave/domain';
import twilio from 'twilio';
import { mapTwilioError, mapTwilioErrorCode } from './errors.js';

const NUMBER = '+15005550009';

/** A real SDK RestException, built the way the SDK builds it from an HTTP response. */
function restException(status: number, code?: number): InstanceType<typeof twilio.RestException> {
  const body =
    code === undefined
      ? '<html>Bad Gateway</html>'
      : { code, message: `The 'To' number ${NUMBER} is not valid`, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
  return new twilio.RestException({ statusCode: status, body, headers: {} });
}

function networkError(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${code} while talking to 127.0.0.1 about ${NUMBER}`), { code, ...extra });
}

function check(err: unknown, code: ErrorCode, providerCode: string | undefined): void {
  const mapped = mapTwilioError(err);
  assert.ok(mapped instanceof BreachwaveError);
  assert.equal(mapped.code, code);
  assert.equal(mapped.kind, ERROR_CATALOG[code].kind);
  assert.equal(mapped.providerCode, providerCode);
  assert.ok(!mapped.message.includes(NUMBER), 'no phone number in the message');
  assert.ok(!JSON.stringify(mapped).includes(NUMBER), 'no phone number in the JSON form');
}

describe('mapTwilioError: REST errors', () => {
  const table: ReadonlyArray<[status: number, twilioCode: number | undefined, expected: ErrorCode, providerCode: string]> = [
    [400, 21211, 'BW_SMS_INVALID_NUMBER', '21211'],
    [400, 21614, 'BW_SMS_INVALID_NUMBER', '21614'],
    [400, 21610, 'BW_SMS_OPTED_OUT', '21610'],
    [400, 21408, 'BW_SMS_NOT_MOBILE', '21408'],
    [400, 21612, 'BW_SMS_NOT_MOBILE', '21612'],
    [400, 30003, 'BW_SMS_NOT_MOBILE', '30003'],
    [400, 30005, 'BW_SMS_INVALID_NUMBER', '30005'],
    [400, 30006, 'BW_SMS_NOT_MOBILE', '30006'],
    [400, 30007, 'BW_SMS_REJECTED', '30007'],
    [401, 20003, 'BW_SMS_AUTH', '20003'],
    [401, undefined, 'BW_SMS_AUTH', '401'],
    [429, 20429, 'BW_SMS_THROTTLED', '20429'],
    [429, undefined, 'BW_SMS_THROTTLED', '429'],
    [400, 63017, 'BW_SMS_THROTTLED', '63017'],
    [500, 20500, 'BW_SMS_PROVIDER_UNAVAILABLE', '20500'],
    [502, undefined, 'BW_SMS_PROVIDER_UNAVAILABLE', '502'],
    [503, 20503, 'BW_SMS_PROVIDER_UNAVAILABLE', '20503'],
    [400, 21602, 'BW_SMS_REJECTED', '21602'],
    [404, 20404, 'BW_SMS_REJECTED', '20404'],
    [403, undefined, 'BW_SMS_REJECTED', '403'],
  ];
  for (const [status, twilioCode, expected, providerCode] of table) {
    it(`HTTP ${status} / code ${twilioCode ?? '(none)'} -> ${expected}`, () => {
      check(restException(status, twilioCode), expected, providerCode);
    });
  }
});

describe('mapTwilioError: transport failures', () => {
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']) {
    it(`${code} (nothing was sent) -> BW_SMS_NETWORK`, () => {
      check(networkError(code), 'BW_SMS_NETWORK', code);
    });
  }

  it('a timeout while the request was still buffered (never left the process) -> BW_SMS_NETWORK', () => {
    check(networkError('ECONNABORTED', { isAxiosError: true, request: { writableFinished: false } }), 'BW_SMS_NETWORK', 'ECONNABORTED');
  });

  for (const code of ['ECONNABORTED', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']) {
    it(`${code} after the request was written -> BW_SMS_AMBIGUOUS`, () => {
      check(networkError(code, { isAxiosError: true, request: { writableFinished: true } }), 'BW_SMS_AMBIGUOUS', code);
    });
  }

  it('a socket hang-up without request details -> BW_SMS_AMBIGUOUS', () => {
    check(networkError('ECONNRESET'), 'BW_SMS_AMBIGUOUS', 'ECONNRESET');
  });

  it('finds the code on a wrapped cause', () => {
    check(new Error('fetch failed', { cause: networkError('ECONNREFUSED') }), 'BW_SMS_NETWORK', 'ECONNREFUSED');
  });

  it('anything unrecognised is treated as ambiguous (reconcile before resending)', () => {
    check(new Error(`boom ${NUMBER}`), 'BW_SMS_AMBIGUOUS', undefined);
    check('a string', 'BW_SMS_AMBIGUOUS', undefined);
  });

  it('returns a BreachwaveError unchanged', () => {
    const original = new BreachwaveError('BW_SMS_OPTED_OUT', { providerCode: '21610' });
    assert.equal(mapTwilioError(original), original);
  });
});

describe('mapTwilioErrorCode (status callback ErrorCode)', () => {
  it('knows the delivery failure codes and nothing else', () => {
    assert.equal(mapTwilioErrorCode(30003), 'BW_SMS_NOT_MOBILE');
    assert.equal(mapTwilioErrorCode(30005), 'BW_SMS_INVALID_NUMBER');
    assert.equal(mapTwilioErrorCode(30007), 'BW_SMS_REJECTED');
    assert.equal(mapTwilioErrorCode(12345), undefined);
  });
});
