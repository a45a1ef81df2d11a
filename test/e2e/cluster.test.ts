/**
 * breachwave on a Redis Cluster: a 3-primary cluster started here on loopback (redis-server
 * with `--cluster-enabled yes`, joined as `redis-cli --cluster create` would), and the fault drill's
 * wave run on it end to end with no fault — ingest, feed, PIN rotation, codes, notices through
 * the real notifier to the Twilio-compatible server and the SMTP sink, the audit writer — with
 * the reliability invariants checked by the drill (every account terminal, one notice per
 * account and channel, ledger = sinks, the audit chain and its checkpoints verify, nothing in
 * clear). Then where the keys went: all of the deployment's keys share its hash tag's slot. The same
 * wave spread over three shards (`BW_SHARDS=3`), without and with a killed notifier: the
 * invariants over every shard, each shard in its own slot, the slots on more than one primary,
 * and `audit verify --dir` per shard, attacked.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { auditShardDir, shardPrefixes } from '@breachwave/audit';
import { entryArgs, redisClusterUnavailable, startRedisCluster, startSmtpSink, startTwilioServer, type SmtpSink, type TestRedisCluster, type TwilioServer } from '@breachwave/testkit';
import { DRILL, randomTag, recordDrill, runDrill } from './drill.js';
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
/** A drill tag whose shards' slots (`{drill<tag>}`, `{drill<tag>:s1}`, …) are served by more than one primary. */
async function spreadTag(nodes: readonly string[], shards: number): Promise<string> {
  const client = new Cluster(nodes.map((n) => ({ host: n.split(':')[0] ?? '127.0.0.1', port: Number(n.split(':')[1]) })), { lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const ranges = await client.cluster('SLOTS');
    const ownerOf = (slot: number) => {
      const r = ranges.find(([from, to]) => slot >= Number(from) && slot <= Number(to));
      return `${r?.[2]?.[0] ?? ''}:${r?.[2]?.[1] ?? ''}`;
    };
    for (let i = 0; i < 100; i++) {
      const tag = randomTag();
      const owners = new Set<string>();
      for (const p of shardPrefixes(`{drill${tag}}`, shards)) owners.add(ownerOf(Number(await client.cluster('KEYSLOT', `${p}:x`))));
      if (owners.size > 1) return tag;
    }
    throw new Error('no tag out of 100 spread the shards over more than one primary');
  } finally {
    client.disconnect();
  }
}

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
        // Each page's slots asked in one round trip.
        const pipe = node.pipeline();
        for (const k of keys) pipe.cluster('KEYSLOT', k);
        for (const [err, slot] of (await pipe.exec()) ?? []) {
          if (err) throw err;
          slots.add(Number(slot));
        }
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
      await Promise.all(procs.map(({ s, p }) => waitForLog(p, `${s} started`)));
      // All three stopped at once (each drains on its own; no need to wait for one before the next).
      const codes = await Promise.all(procs.map(({ p }) => Promise.race([p.kill('SIGTERM'), new Promise<string>((r) => setTimeout(() => r('still running 30 s after SIGTERM'), 30_000).unref())])));
      procs.forEach(({ s }, i) => assert.equal(codes[i], 0, `round ${round}: ${s} exits 0 after SIGTERM`));
    } finally {
      await Promise.all(procs.map(({ p }) => p.kill('SIGKILL')));
    }
  }
});

const ROOT = resolve(import.meta.dirname, '../..');
/** The breachwave CLI, as an operator runs it. */
function cli(args: readonly string[], env: Readonly<Record<string, string>>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a wave spread over 3 shards (BW_SHARDS=3) end to end on the 3-primary cluster: the drill\'s invariants hold over every shard, the wave\'s keys land on more than one primary, and audit verify checks each shard\'s chain', { skip: unavailable ?? false, timeout: 300_000 }, async () => {
  assert.ok(cluster && twilio && smtp);
  twilio.reset();
  smtp.reset();
  const accounts = Math.min(DRILL.accounts, 300);
  // A random tag puts all three shards' slots on one primary about one time in nine; the
  // placement is what this test checks, so it takes a tag the cluster spreads (asked of it).
  const tag = await spreadTag(cluster.nodes, 3);
  const r = await runDrill({ name: 'Redis Cluster, 3 primaries, 3 shards, no fault', tag, victim: 'notifier', faults: 0, signal: 'SIGTERM', accounts, twilio, smtp, redisUrl: cluster.url, completeWithinMs: 180_000, shards: 3 });
  assert.equal(r.stranded, 0);
  assert.equal(r.pinUnnotified, 0);
  assert.equal(r.duplicateSms, 0);
  assert.deepEqual(r.invariants, ['I1', 'I2', 'I3', 'I4', 'I5']);
  assert.equal(twilio.messages.length + smtp.messages.length, r.accepted, 'one notice per accepted account reached a sink');
  process.stdout.write(`# sharded cluster wave: ${r.accepted} accounts in ${r.waveSeconds} s (${Math.round(r.accepted / Math.max(r.waveSeconds, 0.1))} accounts/s)\n`);

  // Where the keys went: each shard in its own tag's one slot, the three slots on more than one primary.
  const prefixes = shardPrefixes(r.prefix, 3);
  const shardSlots = new Set<number>();
  const primaries = new Set<string>();
  for (const p of prefixes) {
    const { keysByNode, slots } = await placement(cluster.nodes, p);
    const holding = [...keysByNode].filter(([, n]) => n > 0);
    assert.equal(slots.size, 1, `every key of shard ${p} hashes to its tag's one slot (found ${[...slots].join(', ')})`);
    assert.equal(holding.length, 1, `shard ${p} lives on one primary`);
    for (const s of slots) shardSlots.add(s);
    for (const [node] of holding) primaries.add(node);
  }
  assert.equal(shardSlots.size, 3, 'three shards, three slots');
  assert.ok(primaries.size > 1, `the wave's keys are on more than one primary (${[...primaries].join(', ')})`);

  // audit verify --dir: every shard's chain on its own, reported by shard; then attacked.
  const keyFile = join(r.audit.dir, '..', 'audit-public.pem');
  writeFileSync(keyFile, r.audit.publicKeyPem);
  const env = { REDIS_URL: cluster.url, BW_PREFIX: r.prefix, BW_SHARDS: '3' };
  const verify = () => cli(['audit', 'verify', '--public-key', keyFile, '--dir', r.audit.dir], env);
  const ok = verify();
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  for (const s of [0, 1, 2]) assert.match(ok.stdout, new RegExp(`^shard ${s}: audit trail OK`, 'm'));

  const shard2 = auditShardDir(r.audit.dir, 2);
  const file = join(shard2, readdirSync(shard2).filter((n) => n.endsWith('.jsonl')).sort()[0] ?? '');
  const original = readFileSync(file, 'utf8');
  const lines = original.split('\n');
  lines[1] = (lines[1] ?? '').replace('"actor":"', '"actor":"x');
  writeFileSync(file, lines.join('\n'));
  const tampered = verify();
  assert.equal(tampered.code, 1, 'an edited record in one shard\'s chain fails the whole trail');
  assert.match(tampered.stdout, /^shard 2: audit trail BROKEN at .*:2/m);
  assert.match(tampered.stdout, /^shard 0: audit trail OK/m);
  writeFileSync(file, original);

  const shard1 = auditShardDir(r.audit.dir, 1);
  renameSync(shard1, `${shard1}.gone`);
  const missing = verify();
  assert.equal(missing.code, 1, 'a whole shard\'s chain deleted fails verification');
  assert.match(missing.stdout, /^shard 1: audit trail BROKEN: .* is missing/m);
  renameSync(`${shard1}.gone`, shard1);
  assert.equal(verify().code, 0, 'restored, it verifies again');
});

test('3 shards on the cluster with the notifier SIGKILLed twice mid-wave: the drill\'s invariants hold over every shard — nobody stranded, no PIN rotated without its notice, no SMS twice, every shard\'s chain verifies', { skip: unavailable ?? false, timeout: 300_000 }, async () => {
  assert.ok(cluster && twilio && smtp);
  twilio.reset();
  smtp.reset();
  const accounts = Math.min(DRILL.accounts, 300);
  const r = await runDrill({ name: 'Redis Cluster, 3 shards, SIGKILL notifier x2', victim: 'notifier', faults: 2, signal: 'SIGKILL', accounts, twilio, smtp, redisUrl: cluster.url, completeWithinMs: 180_000, shards: 3 });
  assert.equal(r.stranded, 0);
  assert.equal(r.pinUnnotified, 0);
  assert.equal(r.duplicateSms, 0);
  assert.deepEqual(r.invariants, ['I1', 'I2', 'I3', 'I4', 'I5']);
  process.stdout.write(`# sharded cluster wave, notifier killed twice: re-driven ${r.redriven}, ambiguous ${r.ambiguous}, ${r.secondsToComplete} s to complete\n`);
});
