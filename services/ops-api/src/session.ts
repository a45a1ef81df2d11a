import { createHash, randomBytes } from 'node:crypto';
import { isApiRole, type ApiRole, type ApiTokenStore } from '@breachwave/access';
import type { Redis } from '@breachwave/redis';

/** Name of the login session cookie. */
export const SESSION_COOKIE = 'bw_session';

/** A browser login: who it stands for, never the token it was opened with. */
export interface Session {
  /** The API token's name: who acts, audited as `operator:<name>`. */
  readonly name: string;
  readonly role: ApiRole;
  /** Per-session token every form that changes something must carry back (`csrf` field). */
  readonly csrf: string;
}

export interface SessionStore {
  /** Opens a session for a token already looked up; returns the id for the cookie. */
  open(name: string, role: ApiRole): Promise<{ id: string; session: Session }>;
  /**
   * The session behind a cookie value, or undefined when it expired, was closed, or the token it
   * was opened with has since been revoked or replaced (the session is then deleted).
   */
  get(id: string): Promise<Session | undefined>;
  /** Ends a session at once. Idempotent. */
  close(id: string): Promise<void>;
}

export interface SessionStoreDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly tokens: Pick<ApiTokenStore, 'fingerprint'>;
  readonly ttlSeconds: number;
}

/** 256 random bits, base64url: the cookie value. */
const ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Login sessions in Redis (`<prefix>:api:session:<sha256 of the id>`, a hash with a TTL). The key
 * is a hash of the id, so a copy of Redis gives no cookie that works. A session records the token's
 * name, role and the fingerprint (keyed hash) of the token issued under that name at login, and
 * is checked against it on every request: revoking the token ends its sessions.
 */
export function createSessionStore(deps: SessionStoreDeps): SessionStore {
  const keyOf = (id: string): string => `${deps.prefix}:api:session:${createHash('sha256').update(id).digest('hex')}`;
  return {
    async open(name, role) {
      const id = randomBytes(32).toString('base64url');
      const csrf = randomBytes(32).toString('base64url');
      const fingerprint = (await deps.tokens.fingerprint(name)) ?? '';
      await deps.redis.multi()
        .hset(keyOf(id), { name, role, csrf, fingerprint })
        .expire(keyOf(id), deps.ttlSeconds)
        .exec();
      return { id, session: { name, role, csrf } };
    },
    async get(id) {
      if (!ID.test(id)) return undefined;
      const r = await deps.redis.hgetall(keyOf(id));
      if (!r.name || !r.role || !r.csrf || !isApiRole(r.role)) return undefined;
      const fingerprint = await deps.tokens.fingerprint(r.name);
      if (!fingerprint || fingerprint !== r.fingerprint) {
        await deps.redis.del(keyOf(id));
        return undefined;
      }
      return { name: r.name, role: r.role, csrf: r.csrf };
    },
    async close(id) {
      if (ID.test(id)) await deps.redis.del(keyOf(id));
    },
  };
}

/** The value of one cookie in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The `Set-Cookie` value of a session: HttpOnly (no script reads it), SameSite=Strict (no other
 * site's page or form sends it), Secure when the API is reached over https, and Max-Age the
 * session's TTL. `maxAge` 0 clears it.
 */
export function sessionCookie(id: string, opts: { readonly secure: boolean; readonly maxAge: number }): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${opts.maxAge}${opts.secure ? '; Secure' : ''}`;
}
