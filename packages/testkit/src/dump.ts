import { Cluster, type Redis } from 'ioredis';

/** The servers holding keys: every primary of a cluster (SCAN walks one node), else the one server. */
function servers(redis: Redis | Cluster): Redis[] {
  if (!(redis instanceof Cluster)) return [redis];
  const primaries = redis.nodes('master');
  // A cluster client that has not connected knows no node: an empty dump would prove nothing.
  if (primaries.length === 0) throw new Error('dumpRedis: the cluster client knows no primary yet (connect it first)');
  return primaries;
}

/** Every key under a prefix with its value as text (strings, hashes, streams, lists, sets, zsets). */
async function* keysAndValues(client: Redis | Cluster, prefix: string): AsyncGenerator<[key: string, value: string]> {
  for (const redis of servers(client)) yield* keysAndValuesOf(redis, prefix);
}

async function* keysAndValuesOf(redis: Redis, prefix: string): AsyncGenerator<[key: string, value: string]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let value = '';
      if (type === 'string') value = (await redis.get(key)) ?? '';
      else if (type === 'hash') value = JSON.stringify(await redis.hgetall(key));
      else if (type === 'list') value = JSON.stringify(await redis.lrange(key, 0, -1));
      else if (type === 'set') value = JSON.stringify(await redis.smembers(key));
      else if (type === 'zset') value = JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES'));
      else if (type === 'stream') value = JSON.stringify(await redis.xrange(key, '-', '+'));
      yield [key, value];
    }
  } while (cursor !== '0');
}

/** Every key and value under a prefix, dumped as text. */
export async function dumpRedis(redis: Redis | Cluster, prefix: string): Promise<string> {
  const parts: string[] = [];
  for await (const [key, value] of keysAndValues(redis, prefix)) parts.push(key, value);
  return parts.join('\n');
}

/**
 * The keys under a prefix whose name or value contains any of `needles` (e.g. contact points
 * that must never be stored in clear): assert it is empty, and a failure names the keys without
 * printing the secrets.
 */
export async function keysHolding(redis: Redis | Cluster, prefix: string, needles: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for await (const [key, value] of keysAndValues(redis, prefix)) {
    if (needles.some((n) => key.includes(n) || value.includes(n))) found.push(key);
  }
  return found.sort();
}
