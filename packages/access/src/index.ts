/**
 * API tokens of the ops API: named bearer tokens with a role, kept in Redis as keyed hashes only.
 *
 * Roles rank `viewer` < `operator` < `approver` < `admin`, each allowing what the ones before it
 * allow, with one exception: approving a wave needs the `approver` role itself. An `admin` manages
 * tokens; keeping approval out of its reach keeps the two-person rule a matter of two people
 * rather than of whoever holds the token administration.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';

export const API_ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** A token's name: who it stands for, recorded in the audit trail as `operator:<name>`. */
export const TOKEN_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function isApiRole(value: string): value is ApiRole {
  return (API_ROLES as readonly string[]).includes(value);
}

/** Whether a token of role `held` may call a route that needs `needed` (see the module comment). */
export function roleAllows(held: ApiRole, needed: ApiRole): boolean {
  if (needed === 'approver') return held === 'approver';
  return API_ROLES.indexOf(held) >= API_ROLES.indexOf(needed);
}

/** What is known of a token: never the token itself. */
export interface ApiTokenInfo {
  readonly name: string;
  readonly role: ApiRole;
  readonly createdAt: string;
  /** Who made it (`operator:<name>`, or `cli:<login>` for a token made with `breachwave token create`). */
  readonly createdBy: string;
}

export interface ApiTokenStore {
  /**
   * Makes a token and returns it: the only time it is ever seen. Only its keyed hash is stored.
   * @throws BreachwaveError BW_INPUT_INVALID (name or role) | BW_TOKEN_NAME_TAKEN
   */
  create(input: { name: string; role: ApiRole; createdBy: string }): Promise<{ token: string; info: ApiTokenInfo }>;
  /** The token's name and role, or undefined for a token that is not (or no longer) issued. */
  lookup(token: string): Promise<ApiTokenInfo | undefined>;
  /** Every token's name and role, sorted by name. */
  list(): Promise<ApiTokenInfo[]>;
  /**
   * Revokes a token by name; it stops working at once.
   * @throws BreachwaveError BW_TOKEN_NOT_FOUND
   */
  revoke(name: string): Promise<ApiTokenInfo>;
  /**
   * The keyed hash of the token now issued under `name`, or undefined when none is. A login
   * session keeps it (never the token) and ends when it changes: the token was revoked or
   * replaced by another of the same name.
   */
  fingerprint(name: string): Promise<string | undefined>;
}

export interface ApiTokenStoreDeps {
  readonly redis: Redis;
  /** The deployment's key prefix (`BW_PREFIX`). */
  readonly prefix: string;
  /**
   * The deployment's HMAC key (`BW_HMAC_KEY`). Tokens are stored as HMAC-SHA256 under it, so a copy
   * of Redis alone gives neither the tokens nor a way to test guesses against them offline.
   */
  readonly hmacKey: Buffer;
  readonly now?: () => Date;
}

// Both keys change together in one script, so a name never points at a missing token or back.
const CREATE = `
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1`;
const REVOKE = `
local digest = redis.call('HGET', KEYS[2], ARGV[1])
if not digest then return false end
local record = redis.call('HGET', KEYS[1], digest)
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], digest)
return record or ''`;

/** The token store of a deployment (`<prefix>:api:tokens`, `<prefix>:api:token-names`). */
export function createApiTokenStore(deps: ApiTokenStoreDeps): ApiTokenStore {
  const tokensKey = `${deps.prefix}:api:tokens`;
  const namesKey = `${deps.prefix}:api:token-names`;
  const now = deps.now ?? (() => new Date());
  const digest = (token: string): string => createHmac('sha256', deps.hmacKey).update('bw-api-token\0').update(token).digest('hex');
  const parse = (raw: string | null | undefined): ApiTokenInfo | undefined => {
    if (!raw) return undefined;
    const r = JSON.parse(raw) as ApiTokenInfo;
    return isApiRole(r.role) ? r : undefined;
  };
  return {
    async create({ name, role, createdBy }) {
      if (!TOKEN_NAME.test(name)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a token name is 1–64 letters, digits, ".", "_" or "-"' });
      if (!isApiRole(role)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `a role is one of ${API_ROLES.join(', ')}` });
      // 32 random bytes: guessing one is out of reach, whatever the request rate.
      const token = `bwt_${randomBytes(32).toString('base64url')}`;
      const info: ApiTokenInfo = { name, role, createdAt: now().toISOString(), createdBy };
      const created = await deps.redis.eval(CREATE, 2, tokensKey, namesKey, name, digest(token), JSON.stringify(info));
      if (created !== 1) throw new BreachwaveError('BW_TOKEN_NAME_TAKEN', { detail: `name ${name}` });
      return { token, info };
    },
    async lookup(token) {
      if (!token) return undefined;
      return parse(await deps.redis.hget(tokensKey, digest(token)));
    },
    async list() {
      const all = Object.values(await deps.redis.hgetall(tokensKey)).map(parse).filter((r): r is ApiTokenInfo => r !== undefined);
      return all.sort((a, b) => a.name.localeCompare(b.name));
    },
    async revoke(name) {
      const raw = (await deps.redis.eval(REVOKE, 2, tokensKey, namesKey, name)) as string | null;
      const info = parse(raw);
      if (raw === null) throw new BreachwaveError('BW_TOKEN_NOT_FOUND', { detail: `name ${TOKEN_NAME.test(name) ? name : '(invalid)'}` });
      return info ?? { name, role: 'viewer', createdAt: '', createdBy: '' };
    },
    async fingerprint(name) {
      return (await deps.redis.hget(namesKey, name)) ?? undefined;
    },
  };
}
