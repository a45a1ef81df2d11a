import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BreachwaveError, CHANNELS, normalisePhone, type Channel } from '@breachwave/domain';
import { AUDIT_FIELD_LUA, auditRecordJson, keys as ledgerKeys } from '@breachwave/ledger';
import { keyedHash } from '@breachwave/secrets';
import { suppressionKeys, type SuppressionKeys } from './keys.js';

/** Why a contact point is suppressed. One contact point can carry several reasons at once. */
export const SUPPRESSION_REASONS = ['stop-keyword', '21610', 'unsubscribe', 'hard-bounce', 'operator'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/**
 * Reasons a person lifts themselves by texting START: their own STOP, and Twilio's 21610 block
 * (which Twilio lifts on START too). An operator's suppression stays until an operator lifts it.
 */
export const SELF_SERVICE_REASONS: readonly SuppressionReason[] = ['stop-keyword', '21610'];

/** Ids for the audit record; never a contact point. */
export interface SuppressionContext {
  readonly waveId?: string;
  readonly accountId?: string;
  /** Where the request came from, e.g. `inbound-sms`, `status-callback`, `one-click`, `notifier`. */
  readonly source?: string;
  /** Audit actor; defaults to the list's actor. */
  readonly actor?: string;
}

export type SuppressOutcome = 'added' | 'already';

export interface UnsuppressResult {
  /** `removed`: no longer suppressed; `kept`: still suppressed for a reason not lifted; `absent`: was not suppressed. */
  readonly outcome: 'removed' | 'kept' | 'absent';
  readonly removed: readonly SuppressionReason[];
}

export interface SuppressionListDeps {
  readonly redis: Redis;
  readonly prefix: string;
  /**
   * The deployment's HMAC key (`BW_HMAC_KEY`). A sub-key is derived from it for contact hashes, so
   * the same contact hashes the same way in every process, and never like a dedupe key or a token.
   */
  readonly hmacKey: Buffer;
  /** Audit actor. Default `suppression`. */
  readonly actor?: string;
  readonly now?: () => Date;
}

const HASH_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * KEYS: list, counts, audit. ARGV: field, reason, ts, counts field, audit record JSON.
 * Adds `reason` to the contact's reasons; the first time a reason is added it is counted and audited.
 */
const SUPPRESS = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local e = {}
if raw then e = cjson.decode(raw) end
if e[ARGV[2]] then return 'already' end
e[ARGV[2]] = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, ARGV[5])
return 'added'
`;

/**
 * KEYS: list, counts, audit. ARGV: field, reasons to lift ("a,b" or "*"), channel, audit record JSON.
 * Returns {outcome, removed reasons CSV}. An attempt that lifts nothing on a suppressed contact is
 * audited as `suppression.kept` (the person asked, the list said no).
 */
const UNSUPPRESS = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'absent', ''} end
local e = cjson.decode(raw)
local removed = {}
local kept = 0
for r, _ in pairs(e) do
  local match = ARGV[2] == '*'
  if not match then
    for w in string.gmatch(ARGV[2], '[^,]+') do if w == r then match = true end end
  end
  if match then removed[#removed + 1] = r else kept = kept + 1 end
end
table.sort(removed)
for _, r in ipairs(removed) do
  e[r] = nil
  redis.call('HINCRBY', KEYS[2], ARGV[3] .. ':' .. r, -1)
end
if kept == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) elseif #removed > 0 then redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e)) end
local rec = cjson.decode(ARGV[4])
if #removed == 0 then rec.type = 'suppression.kept' else rec.detail.removed = removed end
rec.detail.remaining = kept
redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, cjson.encode(rec))
if kept == 0 then return {'removed', table.concat(removed, ',')} end
return {'kept', table.concat(removed, ',')}
`;

type ScriptRedis = Redis & {
  bwSuppress(k1: string, k2: string, k3: string, ...args: string[]): Promise<string>;
  bwUnsuppress(k1: string, k2: string, k3: string, ...args: string[]): Promise<[string, string]>;
};

/**
 * The normalised form of a contact point that is hashed: E.164 for a phone number (falling back to
 * the bare characters for short codes and sender ids), trimmed lower case for an email address.
 */
export function normaliseContact(channel: Channel, contact: string): string {
  if (channel === 'sms') return normalisePhone(contact)?.e164 ?? contact.trim().replace(/[\s().-]/g, '').toUpperCase();
  return contact.trim().toLowerCase();
}

/** The sub-key contact hashes use, derived from the deployment's HMAC key (domain separation). */
export function contactHashKey(hmacKey: Buffer): Buffer {
  return createHmac('sha256', hmacKey).update('breachwave/suppression/contact/v1').digest();
}

function checkChannel(channel: string): asserts channel is Channel {
  if (!(CHANNELS as readonly string[]).includes(channel)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `unknown channel (expected ${CHANNELS.join(', ')})` });
}

function checkReason(reason: string): asserts reason is SuppressionReason {
  if (!(SUPPRESSION_REASONS as readonly string[]).includes(reason)) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: `unknown suppression reason (expected ${SUPPRESSION_REASONS.join(', ')})` });
  }
}

function checkHash(hash: string): void {
  if (!HASH_PATTERN.test(hash)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'not a contact hash' });
}

/**
 * The suppression list: contact points that must not be messaged, per channel, stored under a
 * keyed hash of the normalised contact (never in clear), each with its reasons and when they were
 * added. Every change is written with its audit record in one Lua script.
 */
export function createSuppressionList(deps: SuppressionListDeps) {
  const k: SuppressionKeys = suppressionKeys(deps.prefix);
  const audit = ledgerKeys(deps.prefix).audit;
  const hashKey = contactHashKey(deps.hmacKey);
  const now = deps.now ?? (() => new Date());
  const r = deps.redis as ScriptRedis;
  if (typeof r.bwSuppress !== 'function') {
    r.defineCommand('bwSuppress', { numberOfKeys: 3, lua: SUPPRESS });
    r.defineCommand('bwUnsuppress', { numberOfKeys: 3, lua: UNSUPPRESS });
  }

  const contactHash = (channel: Channel, contact: string): string => {
    checkChannel(channel);
    return keyedHash(hashKey, `${channel}:${normaliseContact(channel, contact)}`);
  };

  const record = (type: string, channel: Channel, hash: string, ctx: SuppressionContext, detail: Record<string, unknown>): string =>
    auditRecordJson({
      type,
      actor: ctx.actor ?? deps.actor ?? 'suppression',
      ...(ctx.waveId ? { wave: ctx.waveId } : {}),
      ...(ctx.accountId ? { account: ctx.accountId } : {}),
      detail: { channel, contact: hash, ...(ctx.source ? { source: ctx.source } : {}), ...detail },
    }, now());

  const reasonsOfHash = async (channel: Channel, hash: string): Promise<SuppressionReason[]> => {
    const raw = await r.hget(k.list, `${channel}:${hash}`);
    if (!raw) return [];
    return Object.keys(JSON.parse(raw) as Record<string, string>).filter((x): x is SuppressionReason => (SUPPRESSION_REASONS as readonly string[]).includes(x)).sort();
  };

  const suppressHash = async (channel: Channel, hash: string, reason: SuppressionReason, ctx: SuppressionContext = {}): Promise<SuppressOutcome> => {
    checkChannel(channel);
    checkReason(reason);
    checkHash(hash);
    const ts = now().toISOString();
    return (await r.bwSuppress(k.list, k.counts, audit, `${channel}:${hash}`, reason, ts, `${channel}:${reason}`,
      record('suppression.added', channel, hash, ctx, { reason }))) as SuppressOutcome;
  };

  const unsuppressHash = async (channel: Channel, hash: string, options: SuppressionContext & { readonly reasons?: readonly SuppressionReason[] } = {}): Promise<UnsuppressResult> => {
    checkChannel(channel);
    checkHash(hash);
    for (const reason of options.reasons ?? []) checkReason(reason);
    const lift = options.reasons ? options.reasons.join(',') : '*';
    if (lift === '') return { outcome: (await reasonsOfHash(channel, hash)).length > 0 ? 'kept' : 'absent', removed: [] };
    const [outcome, removed] = await r.bwUnsuppress(k.list, k.counts, audit, `${channel}:${hash}`, lift, channel,
      record('suppression.removed', channel, hash, options, { lift: options.reasons ?? 'all' }));
    return { outcome: outcome as UnsuppressResult['outcome'], removed: removed ? (removed.split(',') as SuppressionReason[]) : [] };
  };

  return {
    keys: k,

    /** The keyed hash a contact point is stored under (HMAC-SHA256 of `<channel>:<normalised>`, base64url). */
    contactHash,

    /** True when the contact point must not be messaged on `channel`. One HEXISTS. */
    async isSuppressed(channel: Channel, contact: string): Promise<boolean> {
      return (await r.hexists(k.list, `${channel}:${contactHash(channel, contact)}`)) === 1;
    },

    /** The reasons a contact point is suppressed for (empty when it is not). */
    async reasons(channel: Channel, contact: string): Promise<SuppressionReason[]> {
      return reasonsOfHash(channel, contactHash(channel, contact));
    },

    /**
     * Suppresses a contact point for `reason` (idempotent: `already` when it already had that reason).
     * @throws BreachwaveError BW_INPUT_INVALID for an unknown channel or reason.
     */
    async suppress(channel: Channel, contact: string, reason: SuppressionReason, ctx: SuppressionContext = {}): Promise<SuppressOutcome> {
      return suppressHash(channel, contactHash(channel, contact), reason, ctx);
    },

    /** {@link suppress} by contact hash, for callers that never saw the contact (one-click unsubscribe). */
    suppressHash,

    /**
     * Lifts `reasons` (default: every reason) from a contact point. Reasons not listed stay, and the
     * contact stays suppressed while any remains — START lifts only {@link SELF_SERVICE_REASONS}.
     */
    async unsuppress(channel: Channel, contact: string, options: SuppressionContext & { readonly reasons?: readonly SuppressionReason[] } = {}): Promise<UnsuppressResult> {
      return unsuppressHash(channel, contactHash(channel, contact), options);
    },

    unsuppressHash,

    /** Contact points currently suppressed, per channel and reason (a contact with two reasons counts under both). */
    async counts(): Promise<{ channel: Channel; reason: SuppressionReason; count: number }[]> {
      const raw = await r.hgetall(k.counts);
      const out: { channel: Channel; reason: SuppressionReason; count: number }[] = [];
      for (const channel of CHANNELS) {
        for (const reason of SUPPRESSION_REASONS) out.push({ channel, reason, count: Number(raw[`${channel}:${reason}`] ?? 0) });
      }
      return out;
    },
  };
}

export type SuppressionList = ReturnType<typeof createSuppressionList>;
