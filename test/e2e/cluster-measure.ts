/**
 * Measures what Redis Cluster mode costs and what one primary can carry:
 *
 *   pnpm exec tsx test/e2e/cluster-measure.ts [--runs 3] [--accounts 1000]
 *
 * Each run plays the fault drill's wave (every action on, no fault, every service its own
 * process) twice, interleaved: on a redis-server of its own (one server, prefix `drill…`) and on
 * a 3-primary loopback cluster (prefix `{drill…}`, every key in one slot). For each: the wave's
 * own time (feed start to the last notice done), accounts/s, and the CPU seconds the Redis
 * servers spent on it (INFO cpu, summed over the primaries), from which accounts per Redis
 * CPU-second: what one primary — one slot, one future shard — can carry before it is the
 * bottleneck. The servers' idle CPU (cron, the cluster bus), measured for 10 s before the runs,
 * is taken off over each drill's whole span (process start to drain). Prints a Markdown table;
 * writes nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisCluster, startSmtpSink, startTwilioServer, waitFor, freePort } from '@breachwave/testkit';
import { runDrill } from './drill.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, accounts: { type: 'string', default: '1000' } } });
const runs = Number(values.runs);
const accounts = Number(values.accounts);

/** CPU seconds (user + sys) the servers at `ports` have used so far. */
async function cpuSeconds(ports: readonly number[]): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    try {
      const info = await c.info('cpu');
      total += Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0);
    } finally {
      c.disconnect();
    }
  }
  return total;
}

const dir = mkdtempSync(join(tmpdir(), 'bw-cluster-measure-'));
const singlePort = await freePort();
const single: ChildProcess = spawn('redis-server', ['--port', String(singlePort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
const probe = new Redis({ host: '127.0.0.1', port: singlePort, lazyConnect: true, retryStrategy: () => 50 });
probe.on('error', () => undefined);
await waitFor(async () => (await probe.ping().catch(() => '')) === 'PONG', { timeout: 20_000, what: 'redis-server up' });
probe.disconnect();
const cluster = await startRedisCluster({ primaries: 3 });
const clusterPorts = cluster.nodes.map((n) => Number(n.split(':')[1]));
const twilio = await startTwilioServer({ latencyMs: 5 });
const smtp = await startSmtpSink();

/** CPU seconds per second the servers at `ports` burn with no client. */
async function idleRate(ports: readonly number[]): Promise<number> {
  const before = await cpuSeconds(ports);
  await new Promise((r) => setTimeout(r, 10_000));
  return ((await cpuSeconds(ports)) - before) / 10;
}
const idle = { 'one server': await idleRate([singlePort]), cluster: await idleRate(clusterPorts) };
process.stderr.write(`idle CPU s/s: ${JSON.stringify(idle)}\n`);

interface Row { mode: string; run: number; accounts: number; waveSeconds: number; rate: number; redisCpu: number; perCpuSecond: number }
const rows: Row[] = [];
try {
  for (let run = 1; run <= runs; run++) {
    for (const mode of run % 2 === 1 ? ['one server', 'cluster'] : ['cluster', 'one server']) {
      const ports = mode === 'cluster' ? clusterPorts : [singlePort];
      const url = mode === 'cluster' ? cluster.url : `redis://127.0.0.1:${singlePort}`;
      twilio.reset();
      smtp.reset();
      const before = await cpuSeconds(ports);
      const startedAt = Date.now();
      const r = await runDrill({ name: `${mode} #${run}`, victim: 'notifier', faults: 0, signal: 'SIGTERM', accounts, twilio, smtp, redisUrl: url, completeWithinMs: 300_000 });
      const span = (Date.now() - startedAt) / 1000;
      const cpu = Math.max(0.01, (await cpuSeconds(ports)) - before - idle[mode as keyof typeof idle] * span);
      const row = { mode, run, accounts: r.accepted, waveSeconds: r.waveSeconds, rate: Math.round(r.accepted / r.waveSeconds), redisCpu: Math.round(cpu * 100) / 100, perCpuSecond: Math.round(r.accepted / cpu) };
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
} finally {
  await twilio.close();
  await smtp.close();
  await cluster.stop();
  single.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const lines = ['| mode | run | accounts | wave s | accounts/s | Redis CPU s | accounts per Redis CPU-s |', '|---|---|---|---|---|---|---|'];
for (const r of rows) lines.push(`| ${r.mode} | ${r.run} | ${r.accounts} | ${r.waveSeconds} | ${r.rate} | ${r.redisCpu} | ${r.perCpuSecond} |`);
for (const mode of ['one server', 'cluster']) {
  const mine = rows.filter((r) => r.mode === mode);
  lines.push(`| ${mode} | median | | ${median(mine.map((r) => r.waveSeconds))} | ${median(mine.map((r) => r.rate))} | ${median(mine.map((r) => r.redisCpu))} | ${median(mine.map((r) => r.perCpuSecond))} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
