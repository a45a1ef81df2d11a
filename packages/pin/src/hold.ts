import type { Redis } from 'ioredis';
import { BreachwaveError, isBreachwaveError, rotationIdOf } from '@breachwave/domain';
import { AUDIT_FIELD_LUA, auditRecordJson, keys as ledgerKeys, shardOf, shardPrefix, type AuditInput } from '@breachwave/ledger';
import type { Envelope } from '@breachwave/secrets';
import { pinKeys } from './keys.js';

export interface PinHoldDeps {
  readonly redis: Redis;
  readonly prefix: string;
  /** AES-256-GCM envelope under the PIN hold key (`BW_PIN_HOLD_KEY`). */
  readonly envelope: Envelope;
  /** Lifetime of a held PIN (`BW_PIN_TEMP_TTL_SECONDS`). */
  readonly ttlSeconds: number;
  readonly now?: () => Date;
  /** Shards of the deployment's accounts (`BW_SHARDS`, default 1): a held PIN and its wipe's audit record live in the account's shard, one slot for the script. */
  readonly shards?: number;
}

/**
 * KEYS: the held PIN, the audit stream. ARGV: the audit record JSON ("" for none).
 * Unlinks the held PIN and, when there was one, appends the audit record: one round trip where
 * a wipe and its record were two (the notifier wipes once per temporary-PIN notice).
 */
const WIPE = `
local gone = redis.call('UNLINK', KEYS[1])
if gone == 1 and ARGV[1] ~= '' then redis.call('XADD', KEYS[2], '*', ${AUDIT_FIELD_LUA}, ARGV[1]) end
return gone
`;

type ScriptRedis = Redis & { bwPinWipe(held: string, audit: string, record: string): Promise<number> };

/** A held PIN: `reused` when an earlier attempt of the same rotation had already sealed it. */
export interface HeldPin {
  readonly pin: string;
  readonly reused: boolean;
}

/**
 * The rotation's PIN, sealed in Redis under the rotation id from *before* the store call until the
 * notice is sent. This is what makes "the PIN that reaches the customer is the PIN that is
 * stored" hold across crashes: every retry of a rotation finds the PIN the first attempt drew and
 * offers the store that same PIN, so the store's idempotent replay and the notice agree.
 *
 * The envelope's associated data is the rotation id: a held PIN cannot be moved to another
 * account or wave and still open.
 */
export function createPinHold(deps: PinHoldDeps) {
  const shards = deps.shards ?? 1;
  const prefixOf = (waveId: string, accountId: string): string => shardPrefix(deps.prefix, shardOf(waveId, accountId, shards));
  const k = { held: (waveId: string, accountId: string) => pinKeys(prefixOf(waveId, accountId)).held(waveId, accountId) };
  const auditKey = (waveId: string, accountId: string): string => ledgerKeys(prefixOf(waveId, accountId)).audit;
  const now = deps.now ?? (() => new Date());
  const r = deps.redis as ScriptRedis;
  if (typeof r.bwPinWipe !== 'function') r.defineCommand('bwPinWipe', { numberOfKeys: 2, lua: WIPE });
  const aad = (waveId: string, accountId: string) => `pin-hold:${rotationIdOf(waveId, accountId)}`;

  const open = async (waveId: string, accountId: string): Promise<string | undefined> => {
    const sealed = await deps.redis.get(k.held(waveId, accountId));
    if (sealed === null) return undefined;
    return deps.envelope.open(sealed, aad(waveId, accountId));
  };

  return {
    /**
     * The PIN held for this rotation, or a fresh one from `draw` sealed with `SET NX` (two
     * attempts racing end up with the same PIN). A held value that no longer opens (its key
     * was retired) is replaced: the store will then answer `conflict` if the old one was applied.
     */
    async hold(waveId: string, accountId: string, draw: () => string | Promise<string>): Promise<HeldPin> {
      const key = k.held(waveId, accountId);
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const existing = await open(waveId, accountId);
          if (existing !== undefined) return { pin: existing, reused: true };
        } catch (err) {
          if (!isBreachwaveError(err) || err.code !== 'BW_ENVELOPE_INVALID') throw err;
          await deps.redis.unlink(key);
        }
        const pin = await draw();
        const set = await deps.redis.set(key, deps.envelope.seal(pin, aad(waveId, accountId)), 'EX', deps.ttlSeconds, 'NX');
        if (set === 'OK') return { pin, reused: false };
      }
      // Three lost races in a row means something else keeps writing the key: let the job retry.
      throw new BreachwaveError('BW_ENVELOPE_INVALID', { kind: 'transient', detail: 'held PIN kept changing' });
    },

    /** The held PIN, or undefined when none is held (wiped or expired). */
    open,

    /**
     * Removes the held PIN; true when there was one. With `audit`, that record is appended in the
     * same script when there was one to remove (and only then).
     */
    async wipe(waveId: string, accountId: string, audit?: AuditInput): Promise<boolean> {
      return (await r.bwPinWipe(k.held(waveId, accountId), auditKey(waveId, accountId), audit ? auditRecordJson(audit, now()) : '')) === 1;
    },
  };
}
export type PinHold = ReturnType<typeof createPinHold>;
