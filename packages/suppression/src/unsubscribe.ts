import type { Channel } from '@breachwave/domain';
import type { SuppressionList, SuppressOutcome } from './list.js';
import { signUnsubscribeToken, unsubscribeHeaders, unsubscribeUrl, verifyUnsubscribeToken, type UnsubscribeClaims } from './tokens.js';

export interface UnsubscribeLinkerDeps {
  /** The ops-api's public base URL (`BW_PUBLIC_URL`); RFC 8058 wants it HTTPS in production. */
  readonly publicUrl: string;
  /** Token key, see `unsubscribeKey`. */
  readonly key: Buffer;
  readonly list: Pick<SuppressionList, 'contactHash'>;
  /** Link lifetime (`BW_UNSUBSCRIBE_TTL_SECONDS`). */
  readonly ttlSeconds: number;
  readonly now?: () => Date;
}

/** A one-click unsubscribe link and the RFC 8058 headers that carry it. */
export interface UnsubscribeLink {
  readonly url: string;
  readonly headers: ReturnType<typeof unsubscribeHeaders>;
}

/**
 * Builds signed one-click unsubscribe links for notices: call it with the contact the notice goes
 * to; the link carries only ids and the contact's keyed hash.
 */
export function createUnsubscribeLinker(deps: UnsubscribeLinkerDeps) {
  const now = deps.now ?? (() => new Date());
  return (notice: { readonly waveId: string; readonly accountId: string; readonly channel: Channel; readonly contact: string }): UnsubscribeLink => {
    const token = signUnsubscribeToken(deps.key, {
      waveId: notice.waveId,
      accountId: notice.accountId,
      channel: notice.channel,
      contactHash: deps.list.contactHash(notice.channel, notice.contact),
      expiresAt: new Date(now().getTime() + deps.ttlSeconds * 1000),
    });
    const url = unsubscribeUrl(deps.publicUrl, token);
    return { url, headers: unsubscribeHeaders(url) };
  };
}

/**
 * Verifies a one-click token and suppresses its contact point (reason `unsubscribe`).
 * @throws BreachwaveError BW_UNSUBSCRIBE_TOKEN_INVALID | BW_UNSUBSCRIBE_TOKEN_EXPIRED
 */
export async function applyUnsubscribe(list: SuppressionList, key: Buffer, token: string, options: { now?: Date; actor?: string } = {}): Promise<{ claims: UnsubscribeClaims; outcome: SuppressOutcome }> {
  const claims = verifyUnsubscribeToken(key, token, options.now);
  const outcome = await list.suppressHash(claims.channel, claims.contactHash, 'unsubscribe', {
    waveId: claims.waveId,
    accountId: claims.accountId,
    source: 'one-click',
    ...(options.actor ? { actor: options.actor } : {}),
  });
  return { claims, outcome };
}
