import type { Redis } from 'ioredis';
import { BreachwaveError, ERROR_CATALOG, WAVE_ID_PATTERN, type ErrorCode } from '@breachwave/domain';
import { AUDIT_FIELD_LUA, keys as ledgerKeys, shardOf, shardPrefix } from '@breachwave/ledger';
import { DELIVERY_RANK, TERMINAL_RANK, parseTwilioMessageStatus, type DeliveryState } from './delivery-state.js';
import { suppressionKeys } from './keys.js';
import type { SuppressionList } from './list.js';

/**
 * Query parameter carrying the notice reference (`<wave>.<account>`) on the status-callback URL:
 * pass it as `statusCallbackReferenceParam` to `createTwilioSmsSender`. Twilio signs the whole URL,
 * so the reference cannot be forged, and it is there even when the send itself ended ambiguously.
 */
export const REFERENCE_PARAM = 'ref';

/** Path of the status-callback endpoint on the ops-api. */
export const STATUS_CALLBACK_PATH = '/v1/twilio/status';

/** Default lifetime of a sid → notice index entry: Twilio's queue holds a message ≤ 10 h, callbacks trail it. */
export const DEFAULT_SEND_INDEX_TTL_SECONDS = 7 * 86_400;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MESSAGE_SID = /^(SM|MM)[0-9a-fA-F]{32}$/;

/** Which notice a message belongs to. */
export interface NoticeRef {
  readonly waveId: string;
  readonly accountId: string;
}

/** Parses a notice reference `<wave>.<account>` (the notifier's `SmsMessage.reference`). */
export function parseNoticeReference(reference: string): NoticeRef | undefined {
  const dot = reference.indexOf('.');
  if (dot <= 0) return undefined;
  const waveId = reference.slice(0, dot);
  const accountId = reference.slice(dot + 1);
  return WAVE_ID_PATTERN.test(waveId) && ID.test(accountId) ? { waveId, accountId } : undefined;
}

/** The status-callback URL with the reference parameter, for callers that build it themselves. */
export function statusCallbackUrl(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${STATUS_CALLBACK_PATH}`;
}

/**
 * Records which notice a Twilio message sid belongs to, for callbacks that arrive without the
 * reference parameter. Call it right after the send is recorded. Note a callback can beat this
 * write (Twilio may post `sent` within milliseconds), so the reference parameter is preferred.
 */
export async function recordSendIndex(redis: Redis, prefix: string, entry: { sid: string; waveId: string; accountId: string; ttlSeconds?: number }): Promise<void> {
  if (!MESSAGE_SID.test(entry.sid)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'not a Twilio message sid' });
  if (!WAVE_ID_PATTERN.test(entry.waveId) || !ID.test(entry.accountId)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'wave or account id is malformed' });
  await redis.set(suppressionKeys(prefix).sid(entry.sid), `${entry.waveId}.${entry.accountId}`, 'EX', entry.ttlSeconds ?? DEFAULT_SEND_INDEX_TTL_SECONDS);
}

/** The notice a message sid was recorded for by {@link recordSendIndex}, if any. */
export async function lookupSendIndex(redis: Redis, prefix: string, sid: string): Promise<NoticeRef | undefined> {
  const raw = await redis.get(suppressionKeys(prefix).sid(sid));
  return raw ? parseNoticeReference(raw) : undefined;
}

/** A validated Twilio status callback. */
export interface StatusCallback {
  readonly messageSid: string;
  readonly status: DeliveryState;
  /** Twilio's `ErrorCode`, when given. */
  readonly errorCode?: number;
  /** The recipient; used only to suppress the number on 21610, never stored or logged. */
  readonly to?: string;
  /** From the callback URL's reference parameter, when present. */
  readonly reference?: NoticeRef;
}

/**
 * Validates the parameters of a Twilio status callback (already signature-checked).
 * @throws BreachwaveError BW_INPUT_INVALID naming the bad parameter (never echoing contact data).
 */
export function parseStatusCallback(params: Readonly<Record<string, string | undefined>>, reference?: string | null): StatusCallback {
  const sid = params.MessageSid ?? params.SmsSid;
  if (!sid || !MESSAGE_SID.test(sid)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'MessageSid is missing or is not a message sid' });
  const rawStatus = params.MessageStatus ?? params.SmsStatus;
  if (!rawStatus) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'MessageStatus is missing' });
  const status = parseTwilioMessageStatus(rawStatus);
  if (!status) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'MessageStatus is not a known outbound message status' });
  let errorCode: number | undefined;
  if (params.ErrorCode !== undefined && params.ErrorCode !== '') {
    if (!/^\d{1,6}$/.test(params.ErrorCode)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'ErrorCode is not a number' });
    errorCode = Number(params.ErrorCode);
  }
  let ref: NoticeRef | undefined;
  if (reference !== undefined && reference !== null) {
    ref = parseNoticeReference(reference);
    if (!ref) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `the ${REFERENCE_PARAM} parameter is not a notice reference` });
  }
  return {
    messageSid: sid,
    status,
    ...(errorCode !== undefined ? { errorCode } : {}),
    ...(params.To ? { to: params.To } : {}),
    ...(ref ? { reference: ref } : {}),
  };
}

/** What the fallback hook is told: never a contact point. */
export interface PermanentUndeliveredContext {
  readonly waveId: string;
  readonly accountId: string;
  /** Catalog code of the failure (e.g. `BW_SMS_NOT_MOBILE` for 30003). */
  readonly code: ErrorCode;
  /** Twilio's `ErrorCode`. */
  readonly providerCode: string;
  readonly status: DeliveryState;
  readonly messageSid: string;
}

export interface DeliveryTrackerDeps {
  readonly redis: Redis;
  readonly prefix: string;
  /** When given, a callback with ErrorCode 21610 adds the recipient (reason `21610`). */
  readonly suppression?: SuppressionList;
  /**
   * Maps a Twilio `ErrorCode` to a catalog code (pass `mapTwilioErrorCode` from
   * `@breachwave/adapter-twilio`). A code whose catalog kind is `permanent` on an `undelivered`
   * or `failed` status marks the notice for fallback. Without it nothing triggers a fallback.
   */
  readonly classifyErrorCode?: (code: number) => ErrorCode | undefined;
  /**
   * Called once per notice, after its first terminal `undelivered`/`failed` status with a
   * permanent code was recorded (the ledger entry then carries `fb: 'needed'` and the audit a
   * `notify.fallback-needed` record, so a failed hook loses nothing: the mark stays).
   */
  readonly onPermanentUndelivered?: (ctx: PermanentUndeliveredContext) => Promise<void>;
  /** Audit actor. Default `ops-api`. */
  readonly actor?: string;
  readonly now?: () => Date;
  /** Shards of the deployment's accounts (`BW_SHARDS`, default 1): the notice's ledger, counters and audit stream are its account's shard's. */
  readonly shards?: number;
}

/** How a callback was applied. */
export type DeliveryOutcomeKind =
  /** First status seen for the message, or a later one: recorded. */
  | 'recorded'
  /** Same status again, an earlier status arriving late, or any status after a terminal one: ignored. */
  | 'duplicate'
  | 'stale'
  | 'terminal'
  /** A message of the notice other than the one recorded (a resend after an ambiguous outcome): audited only. */
  | 'other-message'
  /** No notice found: no reference, no index entry, or no ledger entry. */
  | 'unmatched';

export interface DeliveryOutcome {
  readonly outcome: DeliveryOutcomeKind;
  readonly status: DeliveryState;
  readonly previous?: DeliveryState;
  readonly notice?: NoticeRef;
  /** The notice's ledger state (`done` once the send was recorded). */
  readonly ledgerState?: string;
  readonly code?: ErrorCode;
  /** True when this callback marked the notice for fallback. */
  readonly fallback: boolean;
  /** Set when the fallback hook threw (the mark in the ledger stays). */
  readonly hookError?: unknown;
  /** True when the recipient was added to the suppression list (21610). */
  readonly suppressed: boolean;
}

/**
 * KEYS: ledger, counts, audit stream (of `@breachwave/ledger`).
 * ARGV: account, sid, incoming state, ranks JSON, terminal rank, Twilio ErrorCode or '', catalog
 *       code or '', '1' when the code is permanent, ts, actor, wave.
 * Returns {outcome, previous state, ledger state, '1' when marked for fallback}.
 *
 * Why a script of its own instead of `ledger.transition`: a transition guards only the action's
 * state `s`, not `ds`, so two callbacks applied at once could both read `sent` and the later write
 * could regress `delivered`. The compare on `ds` and the write (with its audit record) must be one
 * atomic step. The entry format and audit record shape are the ledger's (see ledger/src/scripts.ts).
 *
 * The message tracked is the recorded one (`pid`), or before the send is recorded (a callback
 * beating the notifier's write, or an ambiguous send) the first one seen (`dsSid`).
 */
const APPLY_DELIVERY = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'unmatched', '', '', '0'} end
local entry = cjson.decode(raw)
local a = entry['notify']
if type(a) ~= 'table' then return {'unmatched', '', '', '0'} end
local sid, inc, ts = ARGV[2], ARGV[3], ARGV[9]
local detail = { sid = sid, status = inc }
if ARGV[6] ~= '' then detail.errorCode = ARGV[6] end
if ARGV[7] ~= '' then detail.code = ARGV[7] end
local function record(kind)
  return { ts = ts, type = kind, actor = ARGV[10], wave = ARGV[11], account = ARGV[1], action = 'notify', from = a.s, to = a.s, detail = detail }
end
local target = a.pid
if type(target) ~= 'string' then target = a.dsSid end
if type(target) ~= 'string' then target = sid end
if target ~= sid then
  redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, cjson.encode(record('notify.delivery.other-message')))
  return {'other-message', '', a.s, '0'}
end
local ranks = cjson.decode(ARGV[4])
local terminal = tonumber(ARGV[5])
local cur = nil
if a.dsSid == sid and type(a.ds) == 'string' then cur = a.ds end
if cur then
  if cur == inc then return {'duplicate', cur, a.s, '0'} end
  local cr = ranks[cur] or 0
  if cr >= terminal then return {'terminal', cur, a.s, '0'} end
  if ranks[inc] <= cr then return {'stale', cur, a.s, '0'} end
  detail.previous = cur
end
a.ds = inc
a.dsSid = sid
a.dsAt = ts
if ARGV[6] ~= '' then a.dsCode = ARGV[6] end
local fallback = '0'
if ranks[inc] >= terminal and inc ~= 'delivered' and ARGV[8] == '1' then
  fallback = '1'
  a.fb = 'needed'
end
entry['notify'] = a
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
if cur then redis.call('HINCRBY', KEYS[2], 'notify:ds:' .. cur, -1) end
redis.call('HINCRBY', KEYS[2], 'notify:ds:' .. inc, 1)
redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, cjson.encode(record('notify.delivery')))
if fallback == '1' then
  redis.call('HINCRBY', KEYS[2], 'notify:fallback-needed', 1)
  redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, cjson.encode(record('notify.fallback-needed')))
end
return {'recorded', cur or '', a.s, fallback}
`;

type ScriptRedis = Redis & {
  bwApplyDelivery(k1: string, k2: string, k3: string, ...args: string[]): Promise<[string, string, string, string]>;
};

const RANKS_JSON = JSON.stringify(DELIVERY_RANK);

/**
 * Applies Twilio status callbacks to the notify ledger entries: the delivery state (`ds`, `dsCode`,
 * `dsSid`, `dsAt` on the `notify` action entry) only moves forward, each recorded step writes a
 * `notify.delivery` audit record in the same script, and a permanent undelivered/failed code marks
 * the notice for fallback (`fb: 'needed'`, `notify.fallback-needed`) and calls the hook once.
 */
export function createDeliveryTracker(deps: DeliveryTrackerDeps) {
  const lk = (waveId: string, accountId: string) => ledgerKeys(shardPrefix(deps.prefix, shardOf(waveId, accountId, deps.shards ?? 1)));
  const now = deps.now ?? (() => new Date());
  const actor = deps.actor ?? 'ops-api';
  const r = deps.redis as ScriptRedis;
  if (typeof r.bwApplyDelivery !== 'function') r.defineCommand('bwApplyDelivery', { numberOfKeys: 3, lua: APPLY_DELIVERY });

  return {
    /** Applies one (signature-checked, parsed) callback. Safe to call with duplicates, in any order. */
    async apply(cb: StatusCallback): Promise<DeliveryOutcome> {
      const code = cb.errorCode !== undefined ? deps.classifyErrorCode?.(cb.errorCode) : undefined;
      const permanent = code !== undefined && ERROR_CATALOG[code].kind === 'permanent';
      let suppressed = false;
      const notice = cb.reference ?? (await lookupSendIndex(r, deps.prefix, cb.messageSid));
      // Twilio's own block (21610) holds for the number whatever notice this was: add it first.
      if (cb.errorCode === 21610 && cb.to && deps.suppression) {
        suppressed = (await deps.suppression.suppress('sms', cb.to, '21610', { ...notice, source: 'status-callback', actor })) === 'added';
      }
      const base = { status: cb.status, ...(code ? { code } : {}), suppressed };
      if (!notice) return { ...base, outcome: 'unmatched', fallback: false };
      const [outcome, previous, ledgerState, fb] = await r.bwApplyDelivery(
        lk(notice.waveId, notice.accountId).ledger(notice.waveId), lk(notice.waveId, notice.accountId).counts(notice.waveId), lk(notice.waveId, notice.accountId).audit,
        notice.accountId, cb.messageSid, cb.status, RANKS_JSON, String(TERMINAL_RANK),
        cb.errorCode !== undefined ? String(cb.errorCode) : '', code ?? '', permanent ? '1' : '0',
        now().toISOString(), actor, notice.waveId,
      );
      const result: DeliveryOutcome = {
        ...base,
        outcome: outcome as DeliveryOutcomeKind,
        notice,
        fallback: fb === '1',
        ...(previous ? { previous: previous as DeliveryState } : {}),
        ...(ledgerState ? { ledgerState } : {}),
      };
      if (result.fallback && code && deps.onPermanentUndelivered) {
        try {
          await deps.onPermanentUndelivered({ ...notice, code, providerCode: String(cb.errorCode), status: cb.status, messageSid: cb.messageSid });
        } catch (hookError) {
          return { ...result, hookError };
        }
      }
      return result;
    },
  };
}

export type DeliveryTracker = ReturnType<typeof createDeliveryTracker>;
