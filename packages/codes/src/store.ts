import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BreachwaveError, WAVE_ID_PATTERN, generateCode, maskCode } from '@breachwave/domain';
import type { BreachwaveConfig } from '@breachwave/config';
import { AUDIT_FIELD, auditRecordJson, keys as ledgerKeys } from '@breachwave/ledger';
import { createEnvelope, keyedHash, parseKey, type Envelope, type KeyRef } from '@breachwave/secrets';
import { codeKeys, type CodeKeys } from './keys.js';
import { epochDay, isoDay } from './dates.js';
import { ALLOCATE_GENERATED, ALLOCATE_POOL, IMPORT_POOL, MARK_REDEEMED } from './scripts.js';

/** Pool names become Redis key parts and CLI arguments. */
export const POOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * What the store needs to seal codes and index them: an AES-256-GCM envelope (codes rest sealed,
 * bound by AAD to their index hash) and a key for the keyed hash that indexes them.
 */
export interface CodeCrypto {
  readonly envelope: Envelope;
  readonly indexKey: Buffer;
}

/**
 * Builds the code crypto from sealing keys (current first) and the deployment's HMAC key. The
 * index key is derived from the HMAC key with its own label, so a code's index hash can never
 * equal any other keyed hash breachwave stores. Rotating the HMAC key orphans the index: keep it
 * for the life of the codes.
 */
export function createCodeCrypto(options: { readonly keys: readonly KeyRef[]; readonly hmacKey: Buffer }): CodeCrypto {
  return {
    envelope: createEnvelope(options.keys),
    indexKey: createHmac('sha256', options.hmacKey).update('breachwave/code-index/v1').digest(),
  };
}

/** {@link createCodeCrypto} from the configuration (`codes.keys`, `hmacKey`). */
export function codeCryptoFromConfig(config: Pick<BreachwaveConfig, 'codes' | 'hmacKey'>): CodeCrypto {
  return createCodeCrypto({
    keys: config.codes.keys.map((k) => parseKey(k.id, k.base64)),
    hmacKey: parseKey('hmac', config.hmacKey).key,
  });
}

/**
 * The index hash of a canonical code: HMAC-SHA256 truncated to 132 bits (22 base64url
 * characters). Ample for uniqueness among tens of millions of codes, and a third of the memory
 * of the full digest per indexed code.
 */
export function codeHash(crypto: CodeCrypto, code: string): string {
  return keyedHash(crypto.indexKey, code).slice(0, 22);
}

/** The AAD binding a sealed code to its index hash: one code's envelope cannot stand in for another's. */
export function codeAad(hash: string): string {
  return `code:${hash}`;
}

/**
 * Whose code it is. `person`: one code per account id across every wave of the deployment
 * (account ids are the carrier's stable customer ids and not PII; a keyed hash of the normalised
 * contact could later merge one person's several accounts). `wave`: the operator asked for fresh
 * codes in this wave, so the key is the (wave, account) pair.
 */
export type CodeScope = 'person' | 'wave';

/** The key an assignment is stored under. */
export function personKey(scope: CodeScope, waveId: string, accountId: string): string {
  return scope === 'wave' ? `w:${waveId}:${accountId}` : accountId;
}

/** The account id inside a person key. */
export function accountOfPersonKey(key: string): string {
  return key.startsWith('w:') ? key.slice(key.lastIndexOf(':') + 1) : key;
}

/** An assignment as stored (JSON in the assignments hash). */
interface StoredAssignment {
  /** Index hash. */
  h: string;
  /** Sealed code, AAD `code:<h>`. */
  c: string;
  /** Masked code. */
  m: string;
  /** Enroll-by epoch day. */
  d: number;
  /** `pool:<name>` or `gen`. */
  src: string;
  /** Wave that asked for the code first. */
  w: string;
  /** ISO time of the assignment. */
  at: string;
}

/** A person's code, without the code. Safe to log and report. */
export interface Assignment {
  readonly personKey: string;
  readonly hash: string;
  readonly masked: string;
  readonly enrollBy: string;
  readonly enrollByDay: number;
  /** `pool:<name>` or `gen`. */
  readonly source: string;
  readonly waveId: string;
  readonly assignedAt: string;
}

/** Outcome of an allocation. `existing`: the person already held a code (which they keep). */
export type AllocationResult =
  | { readonly outcome: 'assigned' | 'existing'; readonly assignment: Assignment;
    /** Set when this allocation took the pool below its low watermark. */
    readonly lowWatermark?: { readonly pool: string; readonly available: number; readonly threshold: number } }
  | { readonly outcome: 'exhausted'; readonly pool: string;
    /** True when this call opened the pool's exhaustion event (audit record written). */
    readonly firstEvent: boolean };

/** Outcome of {@link CodeStore.peekPool}. */
export type PeekResult = { readonly outcome: 'existing' | 'available' } | { readonly outcome: 'exhausted'; readonly firstEvent: boolean };

/** Who and where an allocation is for (ids only). */
export interface AllocationRequest {
  readonly personKey: string;
  readonly waveId: string;
  readonly accountId: string;
}

/** Per-pool counters for `codes status`. `loaded = assigned + available + expired`. */
export interface PoolStatus {
  readonly pool: string;
  readonly loaded: number;
  readonly assigned: number;
  /** Unassigned and not past their enroll-by date. */
  readonly available: number;
  /** Unassigned and past their enroll-by date: never handed out. */
  readonly expired: number;
  readonly redeemed: number;
  /** Times an account found the pool exhausted and was put back to wait. */
  readonly waits: number;
  readonly lowWatermarkEvents: number;
  readonly exhaustedEvents: number;
  /** Below the low watermark now (since the event fired, until an import lifts it). */
  readonly low: boolean;
  /** Earliest enroll-by date among available codes. */
  readonly nextEnrollBy?: string;
}

/** Everything `codes status` shows. */
export interface CodeStatus {
  readonly pools: readonly PoolStatus[];
  readonly generated: { readonly assigned: number; readonly collisions: number; readonly redeemed: number };
  /** Person keys holding a code. */
  readonly holders: number;
  readonly redeemed: number;
  readonly lowWatermark: number;
}

export interface CodeStoreDeps {
  readonly redis: Redis;
  readonly prefix: string;
  /** Needed to seal, generate, import and open codes; status, scope and reminders work without. */
  readonly crypto?: CodeCrypto;
  /** Available codes below this fire the low-watermark event. Default 1000. */
  readonly lowWatermark?: number;
  /** Audit actor. Default `code-issuer`. */
  readonly actor?: string;
  readonly now?: () => Date;
}

type ScriptRedis = Redis & {
  bwCodeAllocPool(...args: string[]): Promise<[string, string, string, string]>;
  bwCodeAllocGen(...args: string[]): Promise<[string, string]>;
  bwCodeImport(...args: string[]): Promise<string[]>;
  bwCodeRedeem(...args: string[]): Promise<string[]>;
};

/** Generated codes drawn per allocation before giving up: at 50M codes in a 2^45 space a draw collides ~1.4e-6 of the time. */
const MAX_DRAWS = 8;

/**
 * The deployment's enrollment-code store in Redis: vendor pools, generated codes, one
 * assignment per person key, the keyed-hash uniqueness index and the redemption record. Codes
 * rest sealed; everything this store returns or logs carries the masked form only, except
 * {@link CodeStore.reveal}, which the notifier calls right before rendering a notice.
 */
export function createCodeStore(deps: CodeStoreDeps) {
  const k: CodeKeys = codeKeys(deps.prefix);
  const auditKey = ledgerKeys(deps.prefix).audit;
  const now = deps.now ?? (() => new Date());
  const actor = deps.actor ?? 'code-issuer';
  const lowWatermark = deps.lowWatermark ?? 1000;
  const r = deps.redis as ScriptRedis;
  if (typeof r.bwCodeAllocPool !== 'function') {
    r.defineCommand('bwCodeAllocPool', { numberOfKeys: 6, lua: ALLOCATE_POOL });
    r.defineCommand('bwCodeAllocGen', { numberOfKeys: 3, lua: ALLOCATE_GENERATED });
    r.defineCommand('bwCodeImport', { numberOfKeys: 6, lua: IMPORT_POOL });
    r.defineCommand('bwCodeRedeem', { numberOfKeys: 3, lua: MARK_REDEEMED });
  }
  const crypto = (): CodeCrypto => {
    if (!deps.crypto) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'the code store was created without keys' });
    return deps.crypto;
  };
  const checkPool = (pool: string): void => {
    if (!POOL_NAME_PATTERN.test(pool)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'pool name must be 1–64 letters, digits, "-" or "_"' });
  };
  const toAssignment = (key: string, json: string): Assignment => {
    const s = JSON.parse(json) as StoredAssignment;
    return { personKey: key, hash: s.h, masked: s.m, enrollBy: isoDay(s.d), enrollByDay: s.d, source: s.src, waveId: s.w, assignedAt: s.at };
  };

  const allocatePool = async (pool: string, req: AllocationRequest, mode: 'take' | 'peek'): Promise<[string, string, string, string]> => {
    checkPool(pool);
    return r.bwCodeAllocPool(k.assign, k.index, k.available(pool), k.sealed(pool), k.pool(pool), auditKey,
      req.personKey, String(epochDay(now())), String(lowWatermark), now().toISOString(), actor, req.waveId, req.accountId, pool, mode);
  };

  return {
    keys: k,
    lowWatermark,

    /**
     * Gives the person the earliest-expiring unexpired code of `pool`, atomically; a person who
     * already holds a code (a retried or duplicated job, an earlier wave) gets that one back.
     */
    async allocateFromPool(pool: string, req: AllocationRequest): Promise<AllocationResult> {
      const [outcome, json, flag, left] = await allocatePool(pool, req, 'take');
      if (outcome === 'exhausted') return { outcome, pool, firstEvent: flag === '1' };
      const assignment = toAssignment(req.personKey, json);
      if (outcome === 'assigned' && flag === '1') return { outcome, assignment, lowWatermark: { pool, available: Number(left), threshold: lowWatermark } };
      return { outcome: outcome === 'assigned' ? 'assigned' : 'existing', assignment };
    },

    /**
     * Whether an allocation from `pool` could succeed now, without taking anything. An exhausted
     * answer counts a wait and may open the exhaustion event, exactly as a failed allocation does.
     */
    async peekPool(pool: string, req: AllocationRequest): Promise<PeekResult> {
      const [outcome, , flag] = await allocatePool(pool, req, 'peek');
      if (outcome === 'exhausted') return { outcome, firstEvent: flag === '1' };
      return { outcome: outcome === 'existing' ? 'existing' : 'available' };
    },

    /**
     * Generates a code unique across the deployment (crypto randomness, Crockford base32, check
     * character), seals it and assigns it, atomically; a person who holds a code keeps it.
     * @param enrollByDay the wave's enroll-by date (epoch day), printed with the code.
     * @throws BreachwaveError BW_CODE_COLLISION when every draw collided (a broken RNG).
     */
    async allocateGenerated(enrollByDay: number, req: AllocationRequest): Promise<AllocationResult> {
      const c = crypto();
      for (let draw = 0; draw < MAX_DRAWS; draw++) {
        const code = generateCode();
        const h = codeHash(c, code);
        const [outcome, json] = await r.bwCodeAllocGen(k.assign, k.index, k.generated,
          req.personKey, h, c.envelope.seal(code, codeAad(h)), maskCode(code), String(enrollByDay), req.waveId, now().toISOString());
        if (outcome === 'collision') continue;
        return { outcome: outcome === 'assigned' ? 'assigned' : 'existing', assignment: toAssignment(req.personKey, json) };
      }
      throw new BreachwaveError('BW_CODE_COLLISION', { detail: `${MAX_DRAWS} draws collided` });
    },

    /** The person's assignment (masked), if any. */
    async assignment(key: string): Promise<Assignment | undefined> {
      const json = await r.hget(k.assign, key);
      return json ? toAssignment(key, json) : undefined;
    },

    /**
     * The person's code in clear, for the notice being rendered. The caller must keep it in
     * memory for that one send only.
     */
    async reveal(key: string): Promise<{ code: string; assignment: Assignment } | undefined> {
      const json = await r.hget(k.assign, key);
      if (!json) return undefined;
      const s = JSON.parse(json) as StoredAssignment;
      return { code: crypto().envelope.open(s.c, codeAad(s.h)), assignment: toAssignment(key, json) };
    },

    /** How codes are keyed for a wave: `person` (default) or `wave` (fresh codes for this wave). */
    async scopeOf(waveId: string): Promise<CodeScope> {
      return (await r.hget(k.scope, waveId)) === 'wave' ? 'wave' : 'person';
    },

    /**
     * The operator's choice for a wave: `wave` gives its accounts fresh codes even when they hold
     * one from an earlier wave. Set it before the wave starts: accounts already issued keep theirs.
     */
    async setScope(waveId: string, scope: CodeScope): Promise<void> {
      if (!WAVE_ID_PATTERN.test(waveId)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'wave id is malformed' });
      await r.multi()
        .hset(k.scope, waveId, scope)
        .xadd(auditKey, '*', AUDIT_FIELD, auditRecordJson({ type: 'codes.scope', actor: 'operator', wave: waveId, detail: { scope } }, now()))
        .exec();
    },

    /** Per pool: loaded, assigned, available, expired and the event counters; generated and redemption totals. */
    async status(): Promise<CodeStatus> {
      const today = epochDay(now());
      const pools = (await r.smembers(k.pools)).sort();
      const out: PoolStatus[] = [];
      for (const pool of pools) {
        const [meta, available, expired, next] = await Promise.all([
          r.hgetall(k.pool(pool)),
          r.zcount(k.available(pool), today, '+inf'),
          r.zcount(k.available(pool), '-inf', `(${today}`),
          r.zrangebyscore(k.available(pool), today, '+inf', 'WITHSCORES', 'LIMIT', 0, 1),
        ]);
        const n = (f: string): number => Number(meta[f] ?? 0);
        out.push({
          pool, loaded: n('loaded'), assigned: n('assigned'), available, expired, redeemed: n('redeemed'), waits: n('waits'),
          lowWatermarkEvents: n('low_events'), exhaustedEvents: n('exhausted_events'), low: meta.low !== undefined,
          ...(next[1] !== undefined ? { nextEnrollBy: isoDay(Number(next[1])) } : {}),
        });
      }
      const [gen, holders, redeemed] = await Promise.all([r.hgetall(k.generated), r.hlen(k.assign), r.hlen(k.redeemed)]);
      return {
        pools: out,
        generated: { assigned: Number(gen.assigned ?? 0), collisions: Number(gen.collisions ?? 0), redeemed: Number(gen.redeemed ?? 0) },
        holders,
        redeemed,
        lowWatermark,
      };
    },

    /** @internal Script and key access for the import and reminder modules. */
    internals: { redis: r, keys: k, auditKey, now, crypto, checkPool, toAssignment },
  };
}

export type CodeStore = ReturnType<typeof createCodeStore>;
