import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before } from 'node:test';
import type { StartedRedisContainer } from '@testcontainers/redis';
import { Redis } from 'ioredis';

/** A Redis for tests: `url` to connect to, `stop()` to release it. */
export interface TestRedis {
  readonly url: string;
  /** `env` when REDIS_URL was given, `container` when testcontainers started one. */
  readonly source: 'env' | 'container';
  stop(): Promise<void>;
}

/** Image used for the container path. On machines without a registry, `scripts/container-runtime.sh` builds it locally. */
export const REDIS_IMAGE = process.env.BREACHWAVE_REDIS_IMAGE ?? 'redis:7.2';

/**
 * A host port for a container, free now and below the kernel's ephemeral range, or undefined
 * (the runtime then picks one) when that range cannot be read or leaves no room below it.
 *
 * Why below: a runtime may publish a port with a NAT rule and no socket holding it (Docker
 * without its userland proxy, for one), and then the kernel may hand the same port to a test
 * server bound to port 0, whose connections the rule sends to the container instead. Ports below
 * the ephemeral range are never handed out for port 0, so test servers and the container's port
 * cannot meet whatever the runtime does.
 */
export async function containerHostPort(): Promise<number | undefined> {
  let low: number;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return undefined;
  }
  const from = Math.max(10_000, low - 10_000);
  if (!Number.isInteger(low) || low - from < 1000) return undefined;
  for (let tries = 0; tries < 20; tries++) {
    const port = from + Math.floor(Math.random() * (low - from));
    const srv = createServer();
    srv.listen(port, '0.0.0.0');
    const ok = await Promise.race([once(srv, 'listening').then(() => true), once(srv, 'error').then(() => false)]);
    if (ok) {
      srv.close();
      await once(srv, 'close');
      return port;
    }
  }
  return undefined;
}

/** A Redis container on a port from {@link containerHostPort}. */
export async function startRedisContainer(): Promise<StartedRedisContainer> {
  // Loaded only here: with REDIS_URL set (the test command sets it for every test process) no
  // test file needs testcontainers, and loading it costs each process about a second of CPU.
  const { RedisContainer } = await import('@testcontainers/redis');
  const port = await containerHostPort();
  const container = new RedisContainer(REDIS_IMAGE);
  return (port === undefined ? container : container.withExposedPorts({ container: 6379, host: port })).start();
}

let shared: { redis: Promise<TestRedis>; users: number } | undefined;

/**
 * Starts (or reuses) a Redis for tests: `REDIS_URL` when set, otherwise a container through
 * testcontainers (Docker, or Podman through its Docker-compatible socket).
 * Tests isolate themselves by key prefix / queue name, not by server.
 */
export async function startRedis(): Promise<TestRedis> {
  const url = process.env.REDIS_URL;
  if (url) return { url, source: 'env', stop: async () => {} };
  const container = await startRedisContainer();
  return {
    url: container.getConnectionUrl(),
    source: 'container',
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * One Redis per test process, shared by every test file loaded in it, stopped when the last
 * user releases it.
 */
export async function acquireRedis(): Promise<TestRedis> {
  if (!shared) shared = { redis: startRedis(), users: 0 };
  shared.users++;
  const redis = await shared.redis;
  return {
    url: redis.url,
    source: redis.source,
    stop: async () => {
      if (!shared) return;
      shared.users--;
      if (shared.users === 0) {
        shared = undefined;
        await redis.stop();
      }
    },
  };
}

/** A test file's Redis: the shared test server (see {@link acquireRedis}) and one ioredis client to it. */
export interface RedisFixture {
  /** The server's URL; available once the file's `before` hooks have run. */
  readonly url: string;
  /** A client to the server (default options); available once the file's `before` hooks have run. */
  readonly redis: Redis;
}

/**
 * Registers `before`/`after` hooks in the calling test file that acquire the shared test Redis and
 * open one client to it, then quit the client and release the server. Call it at the top level of
 * the file; read `url` and `redis` inside tests and hooks.
 */
export function useRedis(): RedisFixture {
  let server: TestRedis | undefined;
  let client: Redis | undefined;
  before(async () => {
    server = await acquireRedis();
    client = new Redis(server.url);
  });
  after(async () => {
    await client?.quit();
    await server?.stop();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useRedis: ${what} is read before the file's before() hooks ran`);
    return value;
  };
  return {
    get url() {
      return ready(server, 'url').url;
    },
    get redis() {
      return ready(client, 'redis');
    },
  };
}
