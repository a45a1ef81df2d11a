import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BreachwaveError } from '@breachwave/domain';
import { signUnsubscribeToken, unsubscribeHeaders, unsubscribeKey, unsubscribeUrl, verifyUnsubscribeToken, type UnsubscribeClaims } from './tokens.js';

const key = randomBytes(32);
const now = new Date('2025-03-01T12:00:00Z');
const claims: UnsubscribeClaims = {
  waveId: 'w20250301T120000Z-abc',
  accountId: 'A-1001',
  channel: 'email',
  contactHash: 'x'.repeat(43),
  expiresAt: new Date('2025-04-01T00:00:00Z'),
};

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof BreachwaveError && e.code === code);
}

/** Flips one base64url character of `s` at `i`. */
function flip(s: string, i: number): string {
  const c = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe('one-click unsubscribe tokens', () => {
  it('round-trips its claims', () => {
    const token = signUnsubscribeToken(key, claims);
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(verifyUnsubscribeToken(key, token, now), { ...claims, expiresAt: new Date('2025-04-01T00:00:00Z') });
  });

  it('rejects any altered character, a swapped signature, and another key', () => {
    const token = signUnsubscribeToken(key, claims);
    for (let i = 0; i < token.length; i++) {
      if (token[i] === '.') continue;
      const tampered = flip(token, i);
      if (tampered === token) continue;
      rejects(() => verifyUnsubscribeToken(key, tampered, now), 'BW_UNSUBSCRIBE_TOKEN_INVALID');
    }
    const other = signUnsubscribeToken(key, { ...claims, accountId: 'A-1002' });
    const [payload] = token.split('.');
    const [, otherSig] = other.split('.');
    rejects(() => verifyUnsubscribeToken(key, `${payload}.${otherSig}`, now), 'BW_UNSUBSCRIBE_TOKEN_INVALID');
    rejects(() => verifyUnsubscribeToken(randomBytes(32), token, now), 'BW_UNSUBSCRIBE_TOKEN_INVALID');
  });

  it('rejects a re-encoded payload claiming another account, even with a valid-looking shape', () => {
    const forged = Buffer.from(`1|${claims.waveId}|A-9999|email|${claims.contactHash}|4102444800`).toString('base64url');
    const [, sig] = signUnsubscribeToken(key, claims).split('.');
    rejects(() => verifyUnsubscribeToken(key, `${forged}.${sig}`, now), 'BW_UNSUBSCRIBE_TOKEN_INVALID');
  });

  it('rejects garbage without throwing anything but the catalog error', () => {
    for (const t of ['', '.', 'abc', 'abc.def', `${'a'.repeat(600)}.${'b'.repeat(43)}`, 'a.b.c', '%%%.%%%']) {
      rejects(() => verifyUnsubscribeToken(key, t, now), 'BW_UNSUBSCRIBE_TOKEN_INVALID');
    }
  });

  it('expires', () => {
    const token = signUnsubscribeToken(key, claims);
    rejects(() => verifyUnsubscribeToken(key, token, new Date('2025-04-01T00:00:00Z')), 'BW_UNSUBSCRIBE_TOKEN_EXPIRED');
    rejects(() => verifyUnsubscribeToken(key, token, new Date('2026-01-01T00:00:00Z')), 'BW_UNSUBSCRIBE_TOKEN_EXPIRED');
  });

  it('refuses to sign malformed claims', () => {
    rejects(() => signUnsubscribeToken(key, { ...claims, waveId: 'w.1' }), 'BW_INPUT_INVALID');
    rejects(() => signUnsubscribeToken(key, { ...claims, accountId: 'a|b' }), 'BW_INPUT_INVALID');
    rejects(() => signUnsubscribeToken(key, { ...claims, contactHash: 'ann@example.com' }), 'BW_INPUT_INVALID');
    rejects(() => signUnsubscribeToken(key, { ...claims, expiresAt: new Date(Number.NaN) }), 'BW_INPUT_INVALID');
  });

  it('derives a separate key from the HMAC key unless one is given', () => {
    const hmac = randomBytes(32);
    assert.notDeepEqual(unsubscribeKey(hmac), hmac);
    assert.deepEqual(unsubscribeKey(hmac), unsubscribeKey(hmac));
    const explicit = randomBytes(32);
    assert.equal(unsubscribeKey(hmac, explicit), explicit);
    rejects(() => unsubscribeKey(hmac, randomBytes(16)), 'BW_CONFIG_INVALID');
  });

  it('builds the URL and the RFC 8058 headers', () => {
    const url = unsubscribeUrl('https://hooks.example.com/bw/', 'TOKEN');
    assert.equal(url, 'https://hooks.example.com/bw/v1/unsubscribe?t=TOKEN');
    assert.deepEqual(unsubscribeHeaders(url), {
      'List-Unsubscribe': '<https://hooks.example.com/bw/v1/unsubscribe?t=TOKEN>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
  });
});
