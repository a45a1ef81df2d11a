import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import { redisClusterUnavailable, startRedisCluster, type TestRedisCluster } from '@breachwave/testkit';
import { checkRedis, closeRedis, clusterPrimaries, createRedis, duplicateRedis, infoOfPrimaries, parseClusterUrl, queueConnection, type Redis } from './index.js';

const unavailable = redisClusterUnavailable();
if (unavailable) process.stderr.write(`# SKIPPED: the Redis Cluster factory tests need a local redis-server: ${unavailable}\n`);
const skip = unavailable ?? false;

let cluster: TestRedisCluster | undefined;
const clients: Redis[] = [];
before(async () => {
  if (!unavailable) cluster = await startRedisCluster({ primaries: 3 });
});
after(async () => {
  for (const c of clients) await closeRedis(c);
  await cluster?.stop();
});
const open = (role: 'worker' | 'producer'): Redis => {
  assert.ok(cluster);
  const c = createRedis({ url: cluster.url, role });
  clients.push(c);
  return c;
};

/** Touches three keys in one script, as the ledger's transitions do (entry, counters, audit stream). */
const TRANSITION = `redis.call('HSET', KEYS[1], 'a', ARGV[1]) redis.call('HINCRBY', KEYS[2], 'n', 1) return redis.call('XADD', KEYS[3], '*', 'r', ARGV[1])`;
const keysOf = (prefix: string) => [`${prefix}:wave:w1:ledger`, `${prefix}:wave:w1:counts`, `${prefix}:audit`] as const;

test('cluster URLs: seeds, credentials, TLS; other URLs are one server', () => {
  assert.deepEqual(parseClusterUrl('redis+cluster://a:7000?nodes=b:7001,c:7002'), { nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }, { host: 'c', port: 7002 }], tls: false });
  assert.deepEqual(parseClusterUrl('rediss+cluster://u:p%40ss@a'), { nodes: [{ host: 'a', port: 6379 }], tls: true, username: 'u', password: 'p@ss' });
  assert.equal(parseClusterUrl('redis://a:6379'), undefined);
  assert.throws(() => parseClusterUrl('redis+cluster://a:7000?nodes=b'), /host:port/);
});

test('on a cluster, a producer and a worker client pass the start-up check on every primary, and a script and a MULTI over a hash-tagged prefix\'s keys run', { skip }, async () => {
  const producer = open('producer');
  const worker = open('worker');
  assert.deepEqual(await checkRedis(producer, cluster?.url ?? ''), { version: (await checkRedis(worker, cluster?.url ?? '')).version, policy: 'noeviction' });
  assert.equal(clusterPrimaries(producer).length, 3);
  const infos = await infoOfPrimaries(producer, 'server');
  assert.equal(new Set(infos.map((i) => /tcp_port:(\d+)/.exec(i)?.[1])).size, 3, 'INFO reaches each primary, not one at random');
  const [ledger, counts, audit] = keysOf('{bwt1}');
  await producer.eval(TRANSITION, 3, ledger, counts, audit, 'x');
  const tx = await producer.multi().hget(ledger, 'a').hget(counts, 'n').xlen(audit).exec();
  assert.deepEqual(tx?.map(([, v]) => v), ['x', '1', 1]);
});

test('the attack: the same script over an untagged prefix\'s keys is refused (CROSSSLOT), which is why cluster mode requires the tag', { skip }, async () => {
  const producer = open('producer');
  await checkRedis(producer, cluster?.url ?? '');
  const [ledger, counts, audit] = keysOf('bw');
  const slots = new Set(await Promise.all([ledger, counts, audit].map(async (k) => Number(await producer.cluster('KEYSLOT', k)))));
  assert.ok(slots.size > 1, 'untagged, the three keys hash to different slots');
  await assert.rejects(producer.eval(TRANSITION, 3, ledger, counts, audit, 'x'), /CROSSSLOT/);
  assert.equal(await producer.exists(ledger), 0, 'and nothing was written');
});

test('a duplicated connection blocks on its own (the audit writer\'s wait) and wakes on the next entry', { skip }, async () => {
  const worker = open('worker');
  await checkRedis(worker, cluster?.url ?? '');
  const waiter = duplicateRedis(worker, { connectionName: 'bw-test-wait', maxRetriesPerRequest: null, enableOfflineQueue: true });
  clients.push(waiter);
  const stream = '{bwt2}:audit';
  // Past id 0 of an empty stream: it blocks until the first entry, whichever of the two commands
  // reaches the stream's node first (the waiter connects on its first command).
  const woke = waiter.call('XREAD', 'COUNT', '1', 'BLOCK', '10000', 'STREAMS', stream, '0');
  const id = await worker.xadd(stream, '*', 'r', '1');
  const res = (await woke) as [string, [string, string[]][]][];
  assert.equal(res[0]?.[1][0]?.[0], id);
});

test('a primary with an eviction policy fails the start-up check, named', { skip }, async () => {
  const producer = open('producer');
  await checkRedis(producer, cluster?.url ?? '');
  const victim = clusterPrimaries(producer)[1];
  assert.ok(victim);
  await victim.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    await assert.rejects(checkRedis(producer, cluster?.url ?? ''), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_REDIS_EVICTION_POLICY' && e.message.includes(`node ${victim.options.host ?? ''}:${victim.options.port ?? ''}`));
  } finally {
    await victim.config('SET', 'maxmemory-policy', 'noeviction');
  }
});

test('queues get one shared Cluster client on a cluster, and the options object as before on one server', async () => {
  const single = queueConnection('redis://127.0.0.1:6379');
  assert.deepEqual(single.connection, { url: 'redis://127.0.0.1:6379', maxRetriesPerRequest: null });
  await single.close();
  const clustered = queueConnection('redis+cluster://127.0.0.1:1');
  assert.ok(clustered.connection instanceof Cluster);
  await clustered.close();
});

test('a cluster no seed of which answers fails the start-up check at once, for either role', async () => {
  const url = 'redis+cluster://127.0.0.1:1?nodes=127.0.0.1:2';
  for (const role of ['producer', 'worker'] as const) {
    const c = createRedis({ url, role });
    try {
      await assert.rejects(checkRedis(c, url), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_REDIS_UNREACHABLE' && e.message.includes('redis+cluster://127.0.0.1:1?nodes=127.0.0.1:2'));
    } finally {
      await closeRedis(c);
    }
  }
});
