/**
 * Redis Cluster rules that join two variables: in cluster mode (`REDIS_URL` is a
 * `redis+cluster://` or `rediss+cluster://` URL) the key prefix must be a hash tag, `{name}`.
 * Every key breachwave and BullMQ write starts with the prefix, so with a tag they all hash to
 * one slot: each Lua script, MULTI and BullMQ script then touches keys of one node, which Redis
 * Cluster requires (CROSSSLOT otherwise). Outside cluster mode the prefix may be a tag or not.
 */

/** `{name}`: a prefix that is a whole hash tag. */
export const HASH_TAG_PREFIX = /^\{[A-Za-z0-9_-]+\}$/;

/** True when the URL names a Redis Cluster. */
export function isClusterRedisUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//i.test(url);
}

/** The problem with this URL and prefix together, or undefined. */
export function clusterPrefixProblem(e: { readonly REDIS_URL: string; readonly BW_PREFIX: string }): string | undefined {
  if (!isClusterRedisUrl(e.REDIS_URL) || HASH_TAG_PREFIX.test(e.BW_PREFIX)) return undefined;
  return `BW_PREFIX must be a hash tag such as {${e.BW_PREFIX.replace(/[{}]/g, '') || 'bw'}} when REDIS_URL is a cluster URL (every key of a deployment then shares one slot), got ${JSON.stringify(e.BW_PREFIX)}`;
}

/**
 * The problem with `BW_SHARDS` and the prefix together, or undefined: more than one shard needs
 * a hash-tag prefix, whose shards are tags of their own (`{bw}`, `{bw:s1}`, …).
 */
export function shardsPrefixProblem(e: { readonly BW_SHARDS: number; readonly BW_PREFIX: string }): string | undefined {
  if (e.BW_SHARDS <= 1 || HASH_TAG_PREFIX.test(e.BW_PREFIX)) return undefined;
  return `BW_SHARDS above 1 needs BW_PREFIX to be a hash tag such as {${e.BW_PREFIX.replace(/[{}]/g, '') || 'bw'}} (each shard is then a tag of its own), got ${JSON.stringify(e.BW_PREFIX)}`;
}
