import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { shardOf } from '@breachwave/ledger';
import { ShutdownError } from '@breachwave/lifecycle';
import type { Redis } from '@breachwave/redis';
import { captureLog, useRedis, waitFor } from '@breachwave/testkit';
import { runActionService, type ActionServiceContext, type ActionServiceServer, type ActionServiceSpec } from './service.js';
import type { ActionJobView } from './worker.js';

const db = useRedis();

const WORKERS = { lockDurationMs: 30_000, stalledIntervalMs: 30_000, recoveryIntervalMs: 60_000, staleMs: 60_000, maxRecoveries: 3, pinNoticeLimitMs: 900_000, compactAfterMs: 600_000 };

/** Client sockets this process holds open (Redis connections among them). */
const openSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

/** {@link openSockets} before a start, the test's own Redis client connected. */
async function socketsBefore(): Promise<number> {
  await db.redis.ping();
  return openSockets();
}

/** Connections Redis lists under this test's service name or queue prefix: the runner's own client and BullMQ's named ones. */
async function listedConnections(tag: string): Promise<string[]> {
  const list = (await db.redis.client('LIST')) as string;
  return list.split('\n').map((l) => /\bname=(\S*)/.exec(l)?.[1] ?? '').filter((n) => n.includes(tag));
}

/** A real HTTP server in the place of the metrics server: it listens, and knows whether it was closed. */
function testServer(): ActionServiceServer & { readonly closed: boolean; readonly server: Server } {
  const server = createServer((_req, res) => res.end('ok'));
  let closed = false;
  return {
    server,
    get closed() {
      return closed;
    },
    async start() {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
    },
    async close() {
      closed = true;
      if (server.listening) await new Promise((r) => server.close(r));
    },
  };
}

function spec(tag: string, server: ActionServiceServer, build: ActionServiceSpec['build'], shards = 1): ActionServiceSpec {
  return {
    name: tag,
    action: 'rotate-pin',
    settings: { redisUrl: db.url, prefix: shards > 1 ? `{${tag}}` : tag, shards, workers: WORKERS },
    concurrency: 2,
    server,
    build,
  };
}

test('close() closes every resource after one fails to close, rejects naming it, and leaves no Redis connection open', async () => {
  const tag = `svc${randomBytes(3).toString('hex')}`;
  const cap = captureLog();
  const server = testServer();
  const before = await socketsBefore();
  let context: ActionServiceContext | undefined;
  let closedAfterFailure = false;
  const seen: string[] = [];
  const service = await runActionService(spec(tag, server, (ctx) => {
    context = ctx;
    ctx.own({ name: 'flaky sender', close: () => Promise.reject(new Error('the pool would not close')) });
    ctx.own({ name: 'next sender', close: () => { closedAfterFailure = true; } });
    return {
      processor: async (job: ActionJobView) => {
        seen.push((job.data as { accountId: string }).accountId);
        return 'ok';
      },
      started: { mark: 'up' },
    };
  }, 2), cap.log);
  assert.ok(context);
  const { redis, queues } = context;
  assert.ok(server.server.listening, 'the server listens once started');

  // One job in each shard's queue: the runner made a worker for every shard.
  const waveId = 'w1';
  const accounts = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
  const byShard = [accounts.find((a) => shardOf(waveId, a, 2) === 0), accounts.find((a) => shardOf(waveId, a, 2) === 1)];
  for (const accountId of byShard) await queues.add('rotate-pin', { waveId, accountId: accountId ?? assert.fail('no account for a shard') });
  await waitFor(() => seen.length === 2, { what: 'both shards\' jobs processed' });
  assert.deepEqual(seen.sort(), [...byShard].sort());
  assert.ok((await listedConnections(tag)).length > 0, 'the service holds named connections while it runs');

  const err = await service.close().then(() => assert.fail('close() must reject when a resource fails to close'), (e: unknown) => e);
  assert.ok(err instanceof ShutdownError, 'a ShutdownError');
  assert.deepEqual(err.failures.map((f) => [f.resource, (f.error as Error).message]), [['flaky sender', 'the pool would not close']]);
  assert.equal(await service.close().catch((e: unknown) => e), err, 'close() is idempotent: the same outcome again');

  assert.ok(closedAfterFailure, 'the resource after the failing one was closed');
  // QUIT is answered before the socket ends.
  await waitFor(() => (redis as Redis).status === 'end', { what: 'the service\'s own Redis client closed after the failure' });
  assert.ok(server.closed && !server.server.listening, 'the server was closed last, after the failure');
  await waitFor(async () => (await listedConnections(tag)).length === 0, { what: 'Redis lists none of the service\'s connections' });
  await waitFor(() => openSockets() === before, { what: 'the process holds no more client sockets than before the start' });
  assert.match(cap.text(), new RegExp(`"mark":"up".*"msg":"${tag} started"`));
  assert.doesNotMatch(cap.text(), new RegExp(`${tag} stopped`), 'a failed close is not reported as a clean stop');
});

test('a start that fails after resources were opened closes them, rethrows the start\'s own error, and leaves no connection open', async () => {
  const tag = `svc${randomBytes(3).toString('hex')}`;
  const before = await socketsBefore();
  // The port is taken: the runner's server cannot listen, after the workers were made.
  const taken = createServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const port = (taken.address() as { port: number }).port;
  const server = testServer();
  const blocked: ActionServiceServer = {
    start: async () => {
      server.server.listen(port, '127.0.0.1');
      await Promise.race([once(server.server, 'listening'), once(server.server, 'error').then(([e]) => Promise.reject(e as Error))]);
    },
    close: () => server.close(),
  };
  let redis: Redis | undefined;
  let ownedClosed = false;
  await assert.rejects(runActionService(spec(tag, blocked, (ctx) => {
    redis = ctx.redis;
    ctx.own({ name: 'sender', close: () => { ownedClosed = true; } });
    return { processor: async () => 'ok' };
  }), captureLog().log), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
  await new Promise((r) => taken.close(r));
  assert.ok(ownedClosed, 'what build handed over was closed');
  await waitFor(() => redis?.status === 'end', { what: 'the Redis client closed' });
  assert.ok(server.closed, 'the server was closed');
  await waitFor(async () => (await listedConnections(tag)).length === 0, { what: 'Redis lists none of the service\'s connections' });
  await waitFor(() => openSockets() === before, { what: 'the process holds no more client sockets than before the start' });
});

test('a clean close drains, closes everything in order, and logs the stop with its fields once', async () => {
  const tag = `svc${randomBytes(3).toString('hex')}`;
  const cap = captureLog();
  const server = testServer();
  const order: string[] = [];
  let redis: Redis | undefined;
  const service = await runActionService(spec(tag, server, (ctx) => {
    redis = ctx.redis;
    ctx.own({ name: 'first', close: () => { order.push(`first (redis ${ctx.redis.status}, server ${server.closed ? 'closed' : 'open'})`); } });
    ctx.own({ name: 'second', close: () => { order.push('second'); } });
    return { processor: async () => 'ok', stopped: () => ({ closed: order.length }) };
  }), cap.log);
  await service.close();
  await service.close();
  assert.deepEqual(order, ['first (redis ready, server open)', 'second'], 'handed-over resources close in order, before Redis and the server');
  await waitFor(() => redis?.status === 'end', { what: 'the Redis client closed' });
  assert.ok(server.closed);
  const stops = cap.lines().filter((l) => l.msg === `${tag} stopped`);
  assert.equal(stops.length, 1, 'one stop line');
  assert.equal(stops[0]?.closed, 2, 'its fields are read once everything is closed');
});
