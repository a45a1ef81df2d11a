/**
 * REFERENCE — `createEnvelope(...).seal` of `packages/secrets/src/index.ts` as it was before the
 * issue-6 optimisations: one `randomBytes(12)` call (one trip into OpenSSL's RNG) per sealed
 * value. Same format, opened by the current envelope. Benchmark only.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { createEnvelope, type Envelope, type KeyRef } from '@breachwave/secrets';

export function createEnvelopeV0(keys: readonly KeyRef[]): Envelope {
  const current = createEnvelope(keys);
  const key = keys[0] as KeyRef;
  const seal = (plaintext: string, aad: string): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', key.id, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  };
  return { ...current, seal, sealJson: (value, aad) => seal(JSON.stringify(value), aad) };
}
