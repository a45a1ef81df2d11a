/**
 * A loopback stand-in for a carrier's account system (BSS) PIN endpoint, for tests only (imported
 * as `@breachwave/adapter-bss/testing`; nothing in a production path uses it).
 *
 * It behaves like an idempotent HTTP API should: the first request with an `Idempotency-Key`
 * applies the PIN and stores the answer; the same key with the same body replays that answer
 * with `Idempotent-Replayed: true`; the same key with another body answers
 * `409 {"error":"idempotency_key_reused"}`. It injects faults on demand (5xx, 429, hung requests,
 * a connection reset after the PIN was applied) and records every request — without the PIN.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { IDEMPOTENCY_HEADER, KEY_REUSED, REPLAYED_HEADER } from '../bss-pin-store.js';

/** Faults the fake injects into matching requests. */
export type FakeBssFault =
  /** Answer with this status (and `{"error":"injected"}`) without applying anything. */
  | { readonly kind: 'status'; readonly status: number }
  /** Never answer (the client times out); nothing applied. */
  | { readonly kind: 'hang' }
  /** Apply the PIN, then drop the connection before answering (the client sees an ambiguous outcome). */
  | { readonly kind: 'reset-after-apply' };

/** When a fault applies: `times` matching requests (default 1), optionally only for one account. */
export interface FakeBssFaultOptions {
  readonly times?: number;
  readonly accountId?: string;
}

/** One request as the fake saw it. The PIN is never recorded. */
export interface FakeBssRequest {
  readonly idempotencyKey: string | undefined;
  readonly accountId: string | undefined;
  readonly time: Date;
  status: number | undefined;
  replayed: boolean;
  fault: FakeBssFault['kind'] | undefined;
}

export interface FakeBssOptions {
  /** Bearer token the fake requires; none when absent. */
  readonly token?: string;
  /** Accounts the BSS does not know: 404 `account_not_found`. */
  readonly unknownAccounts?: Iterable<string>;
  /** Delay before every answer, ms. Default 0. */
  readonly latencyMs?: number;
}

export interface FakeBss {
  /** The endpoint to configure as `BW_BSS_URL`. */
  readonly url: string;
  readonly requests: readonly FakeBssRequest[];
  /** The account's current PIN as the BSS holds it (the carrier's system of record). */
  pinOf(accountId: string): string | undefined;
  /** How many times a PIN was applied to the account (replays do not count). */
  appliedCount(accountId: string): number;
  /** Every account the fake applied a PIN to. */
  accounts(): string[];
  fault(fault: FakeBssFault, options?: FakeBssFaultOptions): void;
  readonly unknownAccounts: Set<string>;
  close(): Promise<void>;
}

interface Rule {
  readonly fault: FakeBssFault;
  remaining: number;
  readonly accountId: string | undefined;
}

interface StoredAnswer {
  readonly bodyHash: string;
  readonly status: number;
  readonly body: string;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = createHash('sha256').update(header ?? '').digest();
  const want = createHash('sha256').update(`Bearer ${token}`).digest();
  return timingSafeEqual(given, want);
}

/** Starts the fake on an ephemeral loopback port. */
export async function startFakeBss(options: FakeBssOptions = {}): Promise<FakeBss> {
  const accounts = new Map<string, { pin: string; applied: number }>();
  const answers = new Map<string, StoredAnswer>();
  const requests: FakeBssRequest[] = [];
  const rules: Rule[] = [];
  const unknownAccounts = new Set(options.unknownAccounts ?? []);
  const sockets = new Set<Socket>();
  const latency = options.latencyMs ?? 0;

  const takeFault = (accountId: string | undefined): FakeBssFault | undefined => {
    const i = rules.findIndex((r) => r.remaining > 0 && (r.accountId === undefined || r.accountId === accountId));
    const rule = rules[i];
    if (!rule) return undefined;
    rule.remaining--;
    if (rule.remaining === 0) rules.splice(i, 1);
    return rule.fault;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const keyHeader = req.headers[IDEMPOTENCY_HEADER.toLowerCase()];
      const key = typeof keyHeader === 'string' ? keyHeader : undefined;
      let body: { accountId?: unknown; pin?: unknown } = {};
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        // answered as invalid below
      }
      const accountId = typeof body.accountId === 'string' ? body.accountId : undefined;
      const record: FakeBssRequest = { idempotencyKey: key, accountId, time: new Date(), status: undefined, replayed: false, fault: undefined };
      requests.push(record);
      const answer = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
        record.status = status;
        const text = JSON.stringify(payload);
        const send = () => {
          if (res.destroyed) return;
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(text);
        };
        if (latency > 0) setTimeout(send, latency);
        else send();
      };

      if (req.method !== 'POST') return answer(405, { error: 'method_not_allowed' });
      if (options.token && !tokenMatches(req.headers.authorization, options.token)) return answer(401, { error: 'unauthorized' });
      if (!key) return answer(400, { error: 'idempotency_key_required' });
      const pin = typeof body.pin === 'string' && /^\d{6,12}$/.test(body.pin) ? body.pin : undefined;
      if (!accountId || !pin) return answer(400, { error: 'invalid_request' });

      const fault = takeFault(accountId);
      record.fault = fault?.kind;
      if (fault?.kind === 'hang') return undefined;
      if (fault?.kind === 'status') return answer(fault.status, { error: 'injected' });

      const bodyHash = createHash('sha256').update(raw).digest('hex');
      const stored = answers.get(key);
      if (stored) {
        if (stored.bodyHash !== bodyHash) return answer(409, { error: KEY_REUSED });
        record.replayed = true;
        record.status = stored.status;
        if (fault?.kind === 'reset-after-apply') return void req.socket.destroy();
        return answer(stored.status, JSON.parse(stored.body), { [REPLAYED_HEADER]: 'true' });
      }
      if (unknownAccounts.has(accountId)) return answer(404, { error: 'account_not_found' });
      const acct = accounts.get(accountId) ?? { pin, applied: 0 };
      acct.pin = pin;
      acct.applied++;
      accounts.set(accountId, acct);
      const result = { status: 'applied', accountId };
      answers.set(key, { bodyHash, status: 200, body: JSON.stringify(result) });
      if (fault?.kind === 'reset-after-apply') {
        record.status = 200;
        return void req.socket.destroy();
      }
      return answer(200, result);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1/accounts/pin-rotations`,
    requests,
    pinOf: (accountId) => accounts.get(accountId)?.pin,
    appliedCount: (accountId) => accounts.get(accountId)?.applied ?? 0,
    accounts: () => [...accounts.keys()],
    fault: (fault, opts = {}) => {
      rules.push({ fault, remaining: opts.times ?? 1, accountId: opts.accountId });
    },
    unknownAccounts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
