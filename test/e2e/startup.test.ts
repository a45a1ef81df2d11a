import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { generateKey } from '@breachwave/secrets';
import { waitFor } from '@breachwave/testkit';
import { canRunOwnRedis } from './drill.js';
import { pinEnv } from './pin-support.js';
import { serviceEnv, spawnService, tempDir, useWorld, waitForLog, type ServiceProcess } from './harness.js';

const world = useWorld();

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Waits for the process to end by itself (bounded), and returns its exit code and log. */
async function endsBySelf(p: ServiceProcess, what: string): Promise<{ code: number | null; log: string }> {
  // Generous: a start takes tens of seconds on a loaded 2-core machine. The bound is there to
  // fail a process that would stay up for ever, not to time its start.
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 90_000);
  const code = await p.exited;
  clearTimeout(timer);
  const log = readFileSync(p.logFile, 'utf8');
  assert.notEqual(p.child.signalCode, 'SIGKILL', `${what}: it exited by itself, it was not left running (${log.slice(-500)})`);
  return { code, log };
}

const SERVICES = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer', 'ops-api'] as const;

test('every service exits non-zero by itself when Redis is unreachable, says why, and prints no unhandled ioredis errors', { timeout: 300_000 }, async () => {
  const { twilio, smtp } = world;
  const dir = tempDir('startup');
  const env = { ...serviceEnv({ redisUrl: `redis://127.0.0.1:${await closedPort()}`, prefix: 'startup', dataDir: dir, twilio, smtp }), ...pinEnv(), BW_AUDIT_DIR: `${dir}/audit` };
  // All at once: each waits out its own connection attempts, and they share nothing.
  const ended = await Promise.all(SERVICES.map(async (service) => ({ service, ...(await endsBySelf(spawnService(service, env, dir, `${service}-unreachable`), service)) })));
  for (const { service, code, log } of ended) {
    assert.notEqual(code, 0, `${service} exits non-zero`);
    assert.match(log, /BW_REDIS_UNREACHABLE|Redis is unreachable/, `${service} says Redis is unreachable`);
    assert.doesNotMatch(log, /Unhandled error event/, `${service} prints no unhandled ioredis error events`);
  }
});

test('a worker refuses to start, and exits non-zero, when the HMAC key is not the deployment\'s', { timeout: 200_000 }, async () => {
  const { server, twilio, smtp } = world;
  const dir = tempDir('startup-hmac');
  const prefix = `hmac${randomBytes(3).toString('hex')}`;
  const env = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }) };
  const first = spawnService('notifier', env, dir, 'notifier-first');
  await waitForLog(first, 'notifier started', 90_000);
  assert.equal(await first.kill('SIGTERM'), 0);
  const other = spawnService('notifier', { ...env, BW_HMAC_KEY: generateKey() }, dir, 'notifier-other-key');
  const { code, log } = await endsBySelf(other, 'notifier with another key');
  assert.notEqual(code, 0);
  assert.match(log, /BW_CONFIG_INVALID/);
});

test('a worker refuses to start, and exits non-zero, on a Redis whose maxmemory-policy can evict', { timeout: 200_000, skip: canRunOwnRedis() ? false : 'redis-server is not installed' }, async () => {
  const { twilio, smtp } = world;
  const port = await closedPort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'], { stdio: 'ignore' });
  try {
    const dir = tempDir('startup-evict');
    const env = { ...serviceEnv({ redisUrl: `redis://127.0.0.1:${port}`, prefix: 'evict', dataDir: dir, twilio, smtp }) };
    // The server answers first: the refusal is about its policy, not its absence.
    await waitFor(() => new Promise<boolean>((resolve) => {
      const c = createServer();
      c.once('error', () => resolve(true));
      c.listen(port, '127.0.0.1', () => c.close(() => resolve(false)));
    }), { timeout: 10_000, what: 'redis-server listening' });
    const { code, log } = await endsBySelf(spawnService('notifier', env, dir, 'notifier-evicting'), 'notifier on an evicting Redis');
    assert.notEqual(code, 0);
    assert.match(log, /BW_REDIS_EVICTION_POLICY|noeviction/);
  } finally {
    redis.kill('SIGKILL');
  }
});
