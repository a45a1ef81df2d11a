import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait-for.js';
import { freePort } from './ports.js';

/** A Redis Cluster of the test's own on loopback. */
export interface TestRedisCluster {
  /** `host:port` of each primary. */
  readonly nodes: readonly string[];
  /** The breachwave connection URL for it: `redis+cluster://` with every node as a seed. */
  readonly url: string;
  /** Stops every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

/** The redis-server binary the cluster runs (`REDIS_SERVER_BIN`, else `redis-server` on the PATH). */
const SERVER_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

/** Why a cluster cannot be started here (no redis-server), or undefined when it can. */
export function redisClusterUnavailable(): string | undefined {
  if (spawnSync(SERVER_BIN, ['--version'], { stdio: 'ignore' }).status !== 0) return `${SERVER_BIN} is not installed (apt-get install redis-server)`;
  return undefined;
}

/**
 * Starts `primaries` redis-server processes in cluster mode on free loopback ports (each in a
 * temporary directory, nothing saved), joins them as `redis-cli --cluster create` would (no
 * replicas) and waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(options: { primaries?: number } = {}): Promise<TestRedisCluster> {
  const n = options.primaries ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'bw-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = once(c, 'exit');
      c.kill('SIGKILL');
      await exited;
    }));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      ports.push(port);
      children.push(spawn(SERVER_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
        '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no',
        '--maxmemory-policy', 'noeviction', '--protected-mode', 'no'], { stdio: 'ignore' }));
    }
    const probes = ports.map((p) => {
      const c = new Redis({ host: '127.0.0.1', port: p, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
      c.on('error', () => undefined);
      return c;
    });
    try {
      await waitFor(async () => {
        try {
          for (const c of probes) if ((await c.ping()) !== 'PONG') return false;
          return true;
        } catch {
          return false;
        }
      }, { timeout: 20_000, what: 'cluster nodes up' });
      const nodes = ports.map((p) => `127.0.0.1:${p}`);
      // What `redis-cli --cluster create` does, done directly (it then waits in one-second steps
      // for the join, seconds of a test's start): the slots split evenly, each node its own config
      // epoch, and every node introduced to the first; gossip does the rest.
      for (const [i, c] of probes.entries()) {
        const from = Math.floor((16384 * i) / n);
        const to = Math.floor((16384 * (i + 1)) / n);
        await c.call('CLUSTER', 'ADDSLOTS', ...Array.from({ length: to - from }, (_, k) => from + k));
        await c.call('CLUSTER', 'SET-CONFIG-EPOCH', i + 1);
      }
      for (const p of ports.slice(1)) await probes[0]?.call('CLUSTER', 'MEET', '127.0.0.1', p);
      await waitFor(async () => {
        for (const c of probes) {
          const info = (await c.cluster('INFO')) as string;
          if (!/cluster_state:ok/.test(info)) return false;
          // Every node must know every other before clients are pointed at it.
          const known = ((await c.cluster('NODES')) as string).trim().split('\n').filter((l) => /master/.test(l) && !/fail|handshake/.test(l));
          if (known.length !== n) return false;
        }
        return true;
      }, { timeout: 30_000, what: 'cluster_state:ok on every node' });
      const url = `redis+cluster://${nodes[0] ?? ''}${nodes.length > 1 ? `?nodes=${nodes.slice(1).join(',')}` : ''}`;
      return { nodes, url, stop };
    } finally {
      for (const c of probes) c.disconnect();
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
