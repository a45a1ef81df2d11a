import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { BreachwaveError, type ErrorCode } from '@breachwave/domain';

/** What `/readyz` reports: ready, or why not (no secret, no address). */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

export interface MetricsServerOptions {
  readonly host: string;
  /** 0: any free port (tests). */
  readonly port: number;
  /** Bearer token of `/metrics`; absent: `/metrics` answers 401 to everyone. */
  readonly token?: string;
  readonly registry: Registry;
  readonly ready: () => Promise<Readiness>;
}

export interface MetricsServer {
  /** `http://host:port` as bound (the port chosen when 0 was asked for). */
  readonly url: string;
  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compares the presented bearer token with the configured one in constant time (over their digests, so the length leaks nothing either). */
function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return false;
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  return m?.[1] !== undefined && timingSafeEqual(digest(m[1]), digest(token));
}

/** The catalog's own code and message, as the ops-api answers refusals. */
const refusal = (code: ErrorCode): unknown => ({ error: { code, message: new BreachwaveError(code).message } });

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * A worker's own small HTTP server: `GET /healthz` (the process answers), `GET /readyz` (503
 * while Redis is unreachable or evicts), `GET /metrics` (Prometheus text, bearer token). Errors
 * are JSON `{ "error": { "code", "message" } }` as the ops-api answers them.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, refusal('BW_HTTP_METHOD_NOT_ALLOWED'), { Allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const r = await options.ready();
      json(res, r.ready ? 200 : 503, r.ready ? { status: 'ready' } : { status: 'not-ready', reason: r.reason });
    } else if (path === '/metrics') {
      if (!authorized(req, options.token)) {
        json(res, 401, refusal('BW_HTTP_UNAUTHORIZED'), { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      const body = await options.registry.metrics();
      res.writeHead(200, { 'Content-Type': options.registry.contentType, 'Cache-Control': 'no-store' });
      res.end(body);
    } else {
      json(res, 404, refusal('BW_HTTP_NOT_FOUND'));
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, refusal('BW_INTERNAL'));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
