import { after, before } from 'node:test';
import { RedisContainer, type StartedRedisContainer } from '@testcontainers/redis';
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

let shared: { redis: Promise<TestRedis>; users: number } | undefined;

/**
 * Starts (or reuses) a Redis for tests: `REDIS_URL` when set, otherwise a container through
 * testcontainers (Docker, or Podman through its Docker-compatible socket).
 * Tests isolate themselves by key prefix / queue name, not by server.
 */
export async function startRedis(): Promise<TestRedis> {
  const url = process.env.REDIS_URL;
  if (url) return { url, source: 'env', stop: async () => {} };
  const container: StartedRedisContainer = await new RedisContainer(REDIS_IMAGE).start();
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
