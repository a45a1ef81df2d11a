import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import {
  REFERENCE_PARAM, STATUS_CALLBACK_PATH, UNSUBSCRIBE_PATH, applyInboundSms, applyUnsubscribe, parseStatusCallback, validateTwilioSignature,
  verifyUnsubscribeToken, type DeliveryTracker, type KeywordIntent, type SuppressionList,
} from '@breachwave/suppression';
import { escapeHtml, field, type FormFields, type OpsRequest, type OpsResponse, type OpsRoute } from './http.js';
import type { MetricsSource, OpsMetrics } from './metrics.js';

/** Path of the inbound SMS webhook (configure it as the number's or Messaging Service's "A message comes in" URL). */
export const INBOUND_SMS_PATH = '/v1/twilio/inbound';

export interface RouteDeps {
  readonly redis: Redis;
  readonly suppression: SuppressionList;
  readonly tracker: DeliveryTracker;
  readonly unsubscribeKey: Buffer;
  /** Absent when Twilio is not configured: the Twilio webhooks then answer 503. */
  readonly twilioAuthToken?: string;
  readonly metrics: OpsMetrics;
  /** More counters `/metrics` renders (e.g. those of mounted routes). */
  readonly extraMetrics?: readonly MetricsSource[];
  readonly inboundReplies: Readonly<Partial<Record<KeywordIntent, string>>>;
  readonly now: () => Date;
}

const TWIML_TYPE = { 'Content-Type': 'text/xml; charset=utf-8' };
const HTML_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
};

function first(fields: FormFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined) out[k] = value;
  }
  return out;
}

function twiml(message?: string): OpsResponse {
  const inner = message ? `<Message>${escapeHtml(message)}</Message>` : '';
  return { status: 200, headers: TWIML_TYPE, body: `<?xml version="1.0" encoding="UTF-8"?><Response>${inner}</Response>` };
}

function page(title: string, content: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>` +
    `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem}</style></head>` +
    `<body><h1>${escapeHtml(title)}</h1>${content}</body></html>`;
}

function tokenOf(req: OpsRequest): string {
  const t = req.query.get('t');
  if (!t) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'the t parameter (unsubscribe token) is missing' });
  return t;
}

/** The ops-api's own routes, keyed `METHOD /path`. */
export function createRoutes(deps: RouteDeps): Record<string, OpsRoute> {
  /** Form fields of a Twilio webhook whose `X-Twilio-Signature` checks out against the public URL. */
  const twilioForm = (req: OpsRequest): Record<string, string> => {
    if (!deps.twilioAuthToken) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'Twilio webhooks need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN' });
    if (req.contentType !== 'application/x-www-form-urlencoded') {
      throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'Twilio webhooks are application/x-www-form-urlencoded' });
    }
    const fields = req.form();
    const signature = req.headers['x-twilio-signature'];
    if (!validateTwilioSignature(deps.twilioAuthToken, typeof signature === 'string' ? signature : undefined, req.publicUrl, fields)) {
      throw new BreachwaveError('BW_WEBHOOK_SIGNATURE_INVALID', { detail: 'X-Twilio-Signature does not match this URL and body' });
    }
    return first(fields);
  };

  return {
    'GET /healthz': { auth: 'public', handler: async () => ({ status: 200, json: { status: 'ok' } }) },

    'GET /readyz': {
      auth: 'public',
      handler: async () => {
        try {
          await deps.redis.ping();
          return { status: 200, json: { status: 'ready' } };
        } catch (cause) {
          throw new BreachwaveError('BW_REDIS_UNREACHABLE', { detail: 'PING failed', cause });
        }
      },
    },

    'GET /metrics': {
      auth: 'metrics',
      handler: async () => {
        const { body, contentType } = await deps.metrics.render(deps.extraMetrics);
        return { status: 200, headers: { 'Content-Type': contentType }, body };
      },
    },

    [`POST ${INBOUND_SMS_PATH}`]: {
      auth: 'twilio-signature',
      handler: async (req) => {
        const params = twilioForm(req);
        if (!params.From) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'From is missing' });
        const result = await applyInboundSms(deps.suppression, {
          from: params.From,
          body: params.Body ?? '',
          ...(params.OptOutType ? { optOutType: params.OptOutType } : {}),
        });
        deps.metrics.inbound.inc({ intent: result.intent ?? 'none' });
        const outcome = result.intent === 'opt-out' ? result.outcome : result.intent === 'opt-in' ? result.result.outcome : undefined;
        req.log.info({ intent: result.intent ?? 'none', ...(outcome ? { outcome } : {}) }, 'inbound SMS');
        // Twilio's standard opt-out handling already confirms STOP/START itself, and a reply to a
        // number that just opted out is refused (21610): reply only when configured to.
        return twiml(result.intent ? deps.inboundReplies[result.intent] : undefined);
      },
    },

    [`POST ${STATUS_CALLBACK_PATH}`]: {
      auth: 'twilio-signature',
      handler: async (req) => {
        const params = twilioForm(req);
        const cb = parseStatusCallback(params, req.query.get(REFERENCE_PARAM));
        const r = await deps.tracker.apply(cb);
        deps.metrics.callbacks.inc({ status: cb.status, outcome: r.outcome });
        const log = req.log.child({ sid: cb.messageSid, ...(r.notice ? { wave: r.notice.waveId, account: r.notice.accountId } : {}) });
        if (r.fallback) {
          deps.metrics.fallbacks.inc({ hook: r.hookError === undefined ? 'ok' : 'failed' });
          if (r.hookError !== undefined) log.error({ err: r.hookError, errorCode: r.code }, 'fallback hook failed; the notice stays marked fb=needed');
          else log.info({ errorCode: r.code }, 'notice marked for channel fallback');
        }
        log.debug({ status: cb.status, outcome: r.outcome, previous: r.previous }, 'status callback');
        if (r.outcome === 'unmatched') {
          throw new BreachwaveError('BW_DELIVERY_UNMATCHED', { detail: r.notice ? 'no ledger entry for the referenced notice' : 'no reference parameter and no send index entry' });
        }
        return { status: 204 };
      },
    },

    [`GET ${UNSUBSCRIBE_PATH}`]: {
      auth: 'unsubscribe-token',
      handler: async (req) => {
        const token = tokenOf(req);
        verifyUnsubscribeToken(deps.unsubscribeKey, token, deps.now());
        // GET never unsubscribes: mail scanners and link previews fetch links (RFC 8058 §3.2).
        // The action is query-only, so it resolves under whatever path prefix BW_PUBLIC_URL has.
        const form = `<p>Stop receiving these notices by email?</p><form method="post" action="${escapeHtml(`?t=${encodeURIComponent(token)}`)}">` +
          '<input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>';
        return { status: 200, headers: HTML_HEADERS, body: page('Unsubscribe', form) };
      },
    },

    [`POST ${UNSUBSCRIBE_PATH}`]: {
      auth: 'unsubscribe-token',
      handler: async (req) => {
        const token = tokenOf(req);
        if (req.contentType !== 'application/x-www-form-urlencoded' && req.contentType !== 'multipart/form-data') {
          throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'one-click unsubscribe is a form POST (RFC 8058)' });
        }
        if (field(req.form(), 'List-Unsubscribe') !== 'One-Click') {
          throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'the body must be List-Unsubscribe=One-Click (RFC 8058)' });
        }
        const { claims, outcome } = await applyUnsubscribe(deps.suppression, deps.unsubscribeKey, token, { now: deps.now(), actor: 'ops-api' });
        deps.metrics.unsubscribes.inc({ outcome });
        req.log.info({ wave: claims.waveId, account: claims.accountId, channel: claims.channel, outcome }, 'one-click unsubscribe');
        return { status: 200, headers: HTML_HEADERS, body: page('Unsubscribed', '<p>You will not receive further notices from us at this address.</p>') };
      },
    },
  };
}
