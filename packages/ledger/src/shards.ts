import { crc32 } from 'node:zlib';

/**
 * Shards of a deployment's accounts over Redis Cluster slots. With `BW_SHARDS` = N > 1 (and a
 * hash-tag prefix `{name}`), the accounts of a wave are spread over N tags: shard 0 is the
 * deployment's own tag (so a deployment of one shard keeps every key where it was), shard s > 0
 * is `{name:s<s>}`. Under a shard's tag live its accounts' ledger entries, counters, sealed
 * records and its own audit stream, so every script that moves an account and audits it stays in
 * one slot. Wave records, lifecycle, suppression, codes, pacing and tokens stay under the
 * deployment's tag.
 *
 * Changing N, or this function, moves accounts between shards under running waves: the number
 * of shards is fixed for a deployment's Redis, as its prefix is.
 */

/** The most shards a deployment may have (a bound on fan-out per read, not a Redis limit). */
export const MAX_SHARDS = 64;

/** The shard (0 … shards-1) of an account of a wave: a stable hash of both, so a wave's accounts spread whatever their ids look like. */
export function shardOf(waveId: string, accountId: string, shards: number): number {
  if (shards <= 1) return 0;
  return crc32(`${waveId}\n${accountId}`) % shards;
}

/** The key prefix of a shard: the prefix itself for shard 0, `{name:s<s>}` for the others of a hash-tag prefix `{name}`. */
export function shardPrefix(prefix: string, shard: number): string {
  if (shard === 0) return prefix;
  const tag = /^\{([A-Za-z0-9_-]+)\}$/.exec(prefix);
  if (!tag) throw new Error(`shard ${shard} needs a hash-tag prefix such as {bw}, got ${JSON.stringify(prefix)}`);
  return `{${tag[1]}:s${shard}}`;
}

/** The prefixes of every shard, shard 0 first. */
export function shardPrefixes(prefix: string, shards: number): string[] {
  return Array.from({ length: Math.max(1, shards) }, (_, s) => shardPrefix(prefix, s));
}
