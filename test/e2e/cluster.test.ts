/**
 * breachwave on a Redis Cluster: a 3-primary cluster started here on loopback (redis-server
 * with `--cluster-enabled yes`, joined by `redis-cli --cluster create`), and the fault drill's
 * wave run on it end to end with no fault — ingest, feed, PIN rotation, codes, notices through
 * the real notifier to the Twilio-compatible server and the SMTP sink, the audit writer — with
 * the reliability invariants checked by the drill (every account terminal, one notice per
 * account and channel, ledger = sinks, the audit chain and its checkpoints verify, nothing in
 * clear). Then where the keys went: all of the deployment's keys share its hash tag's slot.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { redisClusterUnavailable, startRedisCluster, startSmtpSink, startTwilioServer, type SmtpSink, type TestRedisCluster, type TwilioServer } from '@breachwave/testkit';
import { DRILL, recordDrill, runDrill } from './drill.js';
import { serviceEnv, spawnService, tempDir, waitForLog } from './harness.js';
import { pinEnv } from './pin-support.js';

const unavailable = redisClusterUnavailable();
if (unavailable) process.stderr.write(`# SKIPPED: the Redis Cluster e2e test needs a local redis-server: ${unavailable}\n`);

let cluster: TestRedisCluster | undefined;
let twilio: TwilioServer | undefined;
let smtp: SmtpSink | undefined;
before(async () => {
  if (unavailable) return;
  cluster = await startRedisCluster({ primaries: 3 });
  twilio = await startTwilioServer({ latencyMs: 5 });
  smtp = await startSmtpSink();
});
after(async () => {
  await twilio?.close();
  await smtp?.close();
  await cluster?.stop();
});

/** Keys under `prefix` on each primary, and the slots they hash to. */
async function placement(nodes: readonly string[], prefix: string): Promise<{ keysByNode: Map<string, number>; slots: Set<number>; primariesWithSlots: number }> {
  const client = new Cluster(nodes.map((n) => ({ host: n.split(':')[0] ?? '127.0.0.1', port: Number(n.split(':')[1]) })), { lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const keysByNode = new Map<string, number>();
    const slots = new Set<number>();
    const primaries = client.nodes('master');
    for (const node of primaries) {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
        for (const k of keys) slots.add(Number(await node.cluster('KEYSLOT', k)));
      } while (cursor !== '0');
      keysByNode.set(`${node.options.host ?? ''}:${node.options.port ?? ''}`, n);
    }
    const ranges = await client.cluster('SLOTS');
    const owners = new Set(ranges.map((r) => `${r[2]?.[0] ?? ''}:${r[2]?.[1] ?? ''}`));
    return { keysByNode, slots, primariesWithSlots: owners.size };
  } finally {
    client.disconnect();
  }
}

test('a wave end to end on a 3-primary Redis Cluster: every account terminal, each notice sent once, ledger = sinks, the audit chain verifies; every key in the deployment\'s hash-tag slot', { skip: unavailable ?? false, timeout: 300_000 }, async () => {
  assert.ok(cluster && twilio && smtp);
  const accounts = Math.min(DRILL.accounts, 300);
  const r = await runDrill({ name: 'Redis Cluster, 3 primaries, no fault', victim: 'notifier', faults: 0, signal: 'SIGTERM', accounts, twilio, smtp, redisUrl: cluster.url, completeWithinMs: 180_000 });
  assert.equal(r.stranded, 0);
  assert.equal(r.pinUnnotified, 0);
  assert.equal(r.duplicateSms, 0);
  assert.deepEqual(r.invariants, ['I1', 'I2', 'I3', 'I4', 'I5']);
  assert.equal(twilio.messages.length + smtp.messages.length, r.accepted, 'one notice per accepted account reached a sink');
  recordDrill(r);
  process.stdout.write(`# cluster wave: ${r.accepted} accounts in ${r.waveSeconds} s (${Math.round(r.accepted / Math.max(r.waveSeconds, 0.1))} accounts/s)\n`);

  const { keysByNode, slots, primariesWithSlots } = await placement(cluster.nodes, r.prefix);
  assert.equal(primariesWithSlots, 3, 'the cluster really spreads its slots over three primaries');
  const holding = [...keysByNode].filter(([, n]) => n > 0);
  assert.ok(holding.length > 0 && holding.reduce((s, [, n]) => s + n, 0) > 0, 'the wave left keys (ledger, wave, counters, queues)');
  assert.equal(slots.size, 1, `every key of the deployment hashes to its tag's one slot (found ${[...slots].join(', ')})`);
  assert.equal(holding.length, 1, 'and so lives on one primary');
});

test('on a cluster, every worker service drains and exits by itself on SIGTERM, twice in a row (no connection left behind by the queue workers)', { skip: unavailable ?? false, timeout: 300_000 }, async () => {
  assert.ok(cluster && twilio && smtp);
  const dir = tempDir('cluster-stop');
  const env = { ...serviceEnv({ redisUrl: cluster.url, prefix: '{bwstop}', dataDir: dir, twilio, smtp }), ...pinEnv(), BW_METRICS_PORT: '0' };
  for (let round = 1; round <= 2; round++) {
    const procs = (['pin-rotator', 'code-issuer', 'notifier'] as const).map((s) => ({ s, p: spawnService(s, env, dir, `${s}-${round}`) }));
    try {
      for (const { s, p } of procs) await waitForLog(p, `${s} started`);
      for (const { s, p } of procs) {
        const code = await Promise.race([p.kill('SIGTERM'), new Promise<string>((r) => setTimeout(() => r('still running 30 s after SIGTERM'), 30_000).unref())]);
        assert.equal(code, 0, `round ${round}: ${s} exits 0 after SIGTERM`);
      }
    } finally {
      await Promise.all(procs.map(({ p }) => p.kill('SIGKILL')));
    }
  }
});
