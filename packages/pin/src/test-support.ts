/**
 * Fixtures for this package's tests (not exported from the package): a wave with rotate-pin in
 * its rules, account records sealed like the feeder seals them, and Redis helpers.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DEFAULT_ACTION_RULES, type PinDelivery, type WaveManifest } from '@breachwave/domain';
import { createLedger, type AccountRecord, type Ledger } from '@breachwave/ledger';
import { createEnvelope, type Envelope } from '@breachwave/secrets';

export interface FixtureAccount {
  readonly accountId: string;
  readonly phone?: string;
  readonly email?: string;
  /** Default true when there is a phone. */
  readonly phoneIsMobile?: boolean;
}

export interface WaveFixture {
  readonly waveId: string;
  readonly ledger: Ledger;
  /** Contact envelope (the feeder's). */
  readonly envelope: Envelope;
  readonly manifest: WaveManifest;
}

export function testEnvelope(): Envelope {
  return createEnvelope([{ id: 'k1', key: randomBytes(32) }]);
}

/** Creates a wave whose accounts all plan rotate-pin → notify, as the feeder would have stored them. */
export async function createRotationWave(redis: Redis, prefix: string, pinDelivery: PinDelivery, accounts: readonly FixtureAccount[], envelope = testEnvelope()): Promise<WaveFixture> {
  const ledger = createLedger({ redis, prefix });
  const waveId = `w${randomBytes(4).toString('hex')}`;
  const manifest: WaveManifest = {
    waveId, createdAt: new Date().toISOString(), source: 'fixture', brand: 'Example Wireless', helpUrl: 'https://help.example.com',
    rules: { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'] }, pinDelivery,
  };
  await ledger.createWave(manifest, { accepted: accounts.length }, {});
  await ledger.putAccounts(waveId, accounts.map((a, i) => {
    const record: AccountRecord = {
      segment: 'prepaid-active', locale: 'en', exposed: ['name', 'phone', 'pin'],
      hasPhone: Boolean(a.phone), phoneIsMobile: a.phone ? a.phoneIsMobile ?? true : false, hasEmail: Boolean(a.email),
      contact: envelope.sealJson({ name: 'Ana Núñez', ...(a.phone ? { phone: a.phone } : {}), ...(a.email ? { email: a.email } : {}) }, `${waveId}:${a.accountId}`),
      line: i + 2,
    };
    return { accountId: a.accountId, record };
  }));
  await ledger.initAccounts(waveId, 'fixture', accounts.map((a) => ({ accountId: a.accountId, actions: ['rotate-pin', 'notify'] })));
  return { waveId, ledger, envelope, manifest };
}

/** True when `pin` appears in `text` as a whole number (not inside a longer digit run such as a timestamp). */
export function containsPin(text: string, pin: string): boolean {
  return new RegExp(`(?<!\\d)${pin}(?!\\d)`).test(text);
}

/** Audit records of the prefix's stream, parsed. */
export async function auditRecords(redis: Redis, prefix: string): Promise<{ id: string; r: Record<string, unknown> & { type: string; account?: string; ts: string } }[]> {
  const entries = await redis.xrange(`${prefix}:audit`, '-', '+');
  return entries.map(([id, fields]) => ({ id, r: JSON.parse(fields[1] ?? '{}') as { type: string; account?: string; ts: string } }));
}
