/**
 * Measures what a shard adds on a Redis Cluster:
 *
 *   pnpm exec tsx test/e2e/shards-measure.ts [--runs 3] [--accounts 1000]
 *
 * Each run plays the fault drill's wave (every action on, no fault, every service its own
 * process) on a 3-primary loopback cluster twice, interleaved: with `BW_SHARDS=1` (every key in
 * the deployment's one slot) and with `BW_SHARDS=3` (the accounts spread over three tags). For
 * each: the wave's own time (feed start to the last notice done), accounts/s, and the CPU seconds
 * each primary spent on it (INFO cpu, its idle rate measured for 10 s before the runs taken off
 * over the drill's whole span). Prints a Markdown table; writes nothing.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisCluster, startSmtpSink, startTwilioServer } from '@breachwave/testkit';
import { runDrill } from './drill.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, accounts: { type: 'string', default: '1000' } } });
const runs = Number(values.runs);
const accounts = Number(values.accounts);

/** CPU seconds (user + sys) each server at `ports` has used so far. */
async function cpuSeconds(ports: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const port of ports) {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    try {
      const info = await c.info('cpu');
      out.push(Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0));
    } finally {
      c.disconnect();
    }
  }
  return out;
}

const cluster = await startRedisCluster({ primaries: 3 });
const ports = cluster.nodes.map((n) => Number(n.split(':')[1]));
const twilio = await startTwilioServer({ latencyMs: 5 });
const smtp = await startSmtpSink();
const idleBefore = await cpuSeconds(ports);
await new Promise((r) => setTimeout(r, 10_000));
const idle = (await cpuSeconds(ports)).map((c, i) => (c - (idleBefore[i] ?? 0)) / 10);
process.stderr.write(`idle CPU s/s per primary: ${JSON.stringify(idle)}\n`);

interface Row { shards: number; run: number; accounts: number; waveSeconds: number; rate: number; cpu: number[] }
const rows: Row[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    for (const shards of run % 2 === 1 ? [1, 3] : [3, 1]) {
      twilio.reset();
      smtp.reset();
      const before = await cpuSeconds(ports);
      const startedAt = Date.now();
      const r = await runDrill({ name: `${shards} shard(s) #${run}`, victim: 'notifier', faults: 0, signal: 'SIGTERM', accounts, twilio, smtp, redisUrl: cluster.url, completeWithinMs: 300_000, shards });
      const span = (Date.now() - startedAt) / 1000;
      const cpu = (await cpuSeconds(ports)).map((c, i) => Math.max(0, Math.round((c - (before[i] ?? 0) - (idle[i] ?? 0) * span) * 100) / 100));
      const row = { shards, run, accounts: r.accepted, waveSeconds: r.waveSeconds, rate: Math.round(r.accepted / r.waveSeconds), cpu };
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
} finally {
  await twilio.close();
  await smtp.close();
  await cluster.stop();
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const sum = (xs: number[]): number => Math.round(xs.reduce((a, b) => a + b, 0) * 100) / 100;
const lines = ['| shards | run | accounts | wave s | accounts/s | Redis CPU s per primary | busiest primary CPU s | Redis CPU s, all |', '|---|---|---|---|---|---|---|---|'];
for (const r of rows) lines.push(`| ${r.shards} | ${r.run} | ${r.accounts} | ${r.waveSeconds} | ${r.rate} | ${r.cpu.join(' / ')} | ${Math.max(...r.cpu)} | ${sum(r.cpu)} |`);
for (const shards of [1, 3]) {
  const mine = rows.filter((r) => r.shards === shards);
  lines.push(`| **${shards}, median** | | | ${median(mine.map((r) => r.waveSeconds))} | ${median(mine.map((r) => r.rate))} | | ${median(mine.map((r) => Math.max(...r.cpu)))} | ${median(mine.map((r) => sum(r.cpu)))} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
