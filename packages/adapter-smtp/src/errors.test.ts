import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BreachwaveError, ERROR_CATALOG, type ErrorCode } from '@breachwave/domain';
import { mapSmtpError, type SmtpErrorContext } from './errors.js';

const ADDRESS = 'bob.customer@example.com';

/** An error shaped the way nodemailer's SMTP connection reports one. */
function smtpError(fields: { code?: string; responseCode?: number; response?: string; command?: string }): Error {
  const message = fields.response ? `Failed: ${fields.response}` : `Failed for ${ADDRESS}`;
  return Object.assign(new Error(message), fields);
}

function check(err: unknown, expected: ErrorCode, providerCode: string | undefined, context?: SmtpErrorContext): void {
  const mapped = mapSmtpError(err, context);
  assert.ok(mapped instanceof BreachwaveError);
  assert.equal(mapped.code, expected);
  assert.equal(mapped.kind, ERROR_CATALOG[expected].kind);
  assert.equal(mapped.providerCode, providerCode);
  assert.ok(!mapped.message.includes(ADDRESS), 'no recipient address in the message');
  assert.ok(!JSON.stringify(mapped).includes(ADDRESS), 'no recipient address in the JSON form');
}

describe('mapSmtpError: server replies', () => {
  const table: ReadonlyArray<[responseCode: number, response: string, command: string, expected: ErrorCode, providerCode: string]> = [
    [421, '421 4.4.2 Too many messages, slow down', 'CONN', 'BW_EMAIL_THROTTLED', '421 4.4.2'],
    [421, '421 Service not available', 'RCPT TO', 'BW_EMAIL_THROTTLED', '421'],
    [450, `450 4.2.1 <${ADDRESS}>: mailbox busy`, 'RCPT TO', 'BW_EMAIL_TEMPORARY', '450 4.2.1'],
    [451, '451 4.3.0 Requested action aborted', 'DATA', 'BW_EMAIL_TEMPORARY', '451 4.3.0'],
    [452, '452 4.2.2 Insufficient storage', 'DATA', 'BW_EMAIL_TEMPORARY', '452 4.2.2'],
    [503, '503 5.5.1 Bad sequence of commands', 'DATA', 'BW_EMAIL_TEMPORARY', '503 5.5.1'],
    [550, `550 5.1.1 <${ADDRESS}>: Recipient address rejected`, 'RCPT TO', 'BW_EMAIL_REJECTED', '550 5.1.1'],
    [551, '551 5.1.6 User not local', 'RCPT TO', 'BW_EMAIL_REJECTED', '551 5.1.6'],
    [553, '553 5.1.3 Mailbox name not allowed', 'MAIL FROM', 'BW_EMAIL_REJECTED', '553 5.1.3'],
    [554, '554 5.7.1 Message rejected as spam', 'DATA', 'BW_EMAIL_REJECTED', '554 5.7.1'],
    [535, '535 5.7.8 Authentication credentials invalid', 'AUTH PLAIN', 'BW_EMAIL_AUTH', '535 5.7.8'],
    [530, '530 5.7.0 Authentication required', 'MAIL FROM', 'BW_EMAIL_AUTH', '530 5.7.0'],
  ];
  for (const [responseCode, response, command, expected, providerCode] of table) {
    it(`${response.slice(0, 9)} to ${command} -> ${expected}`, () => {
      const code = command === 'DATA' ? 'EMESSAGE' : command.startsWith('AUTH') ? 'EAUTH' : 'EENVELOPE';
      check(smtpError({ code, responseCode, response, command }), expected, providerCode);
    });
  }

  it('a reply wins over the connection state', () => {
    check(
      smtpError({ code: 'ECONNECTION', responseCode: 421, response: '421 4.4.2 closing', command: 'CONN' }),
      'BW_EMAIL_THROTTLED',
      '421 4.4.2',
      { dataSent: true },
    );
  });
});

describe('mapSmtpError: no reply', () => {
  for (const code of ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS']) {
    it(`${code} before the message was sent -> BW_EMAIL_NETWORK`, () => {
      check(smtpError({ code, command: 'CONN' }), 'BW_EMAIL_NETWORK', code, { dataSent: false });
    });
    it(`${code} after the message was sent -> BW_EMAIL_AMBIGUOUS`, () => {
      check(smtpError({ code, command: 'CONN' }), 'BW_EMAIL_AMBIGUOUS', code, { dataSent: true });
    });
  }

  it('a drop nodemailer attributes to DATA is ambiguous even without context', () => {
    check(smtpError({ code: 'ECONNECTION', command: 'DATA' }), 'BW_EMAIL_AMBIGUOUS', 'ECONNECTION');
  });

  it('EAUTH without a reply (missing credentials) -> BW_EMAIL_AUTH', () => {
    check(smtpError({ code: 'EAUTH', command: 'API' }), 'BW_EMAIL_AUTH', 'EAUTH');
  });

  it('an envelope refused locally (no reply) -> BW_EMAIL_REJECTED', () => {
    check(smtpError({ code: 'EENVELOPE', command: 'API' }), 'BW_EMAIL_REJECTED', 'EENVELOPE');
  });

  it('a local stream failure before sending -> BW_EMAIL_TEMPORARY', () => {
    check(smtpError({ code: 'ESTREAM', command: 'API' }), 'BW_EMAIL_TEMPORARY', 'ESTREAM');
  });

  it('returns a BreachwaveError unchanged', () => {
    const original = new BreachwaveError('BW_EMAIL_REJECTED');
    assert.equal(mapSmtpError(original), original);
  });
});
