import { Cluster, type ChainableCommander, type Redis } from 'ioredis';

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

/** Queues the command that reads a key of this type whole; false for a type not dumped (or a key gone). */
function queueRead(pipeline: ChainableCommander, key: string, type: string): boolean {
  if (type === 'string') pipeline.get(key);
  else if (type === 'hash') pipeline.hgetall(key);
  else if (type === 'list') pipeline.lrange(key, 0, -1);
  else if (type === 'set') pipeline.smembers(key);
  else if (type === 'zset') pipeline.zrange(key, 0, -1, 'WITHSCORES');
  else if (type === 'stream') pipeline.xrange(key, '-', '+');
  else return false;
  return true;
}

/** The replies of a pipeline, its first error thrown (as the same commands sent one by one would). */
async function replies(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, reply]) => {
    if (err) throw err;
    return reply;
  });
}

/** One SCAN page at a time: the page's types in one pipeline, then its values in another. */
async function* keysAndValuesOf(redis: Redis, prefix: string): AsyncGenerator<[key: string, value: string]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const types = (await replies(keys.reduce((p, key) => p.type(key), redis.pipeline()))) as string[];
    const read = redis.pipeline();
    const queued = keys.map((key, i) => queueRead(read, key, types[i] ?? 'none'));
    const values = queued.some(Boolean) ? await replies(read) : [];
    let v = 0;
    for (const [i, key] of keys.entries()) {
      // A string as it is (nil: ''), any other type as the JSON of its reply.
      if (!queued[i]) yield [key, ''];
      else if (types[i] === 'string') yield [key, (values[v++] as string | null) ?? ''];
      else yield [key, JSON.stringify(values[v++])];
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
