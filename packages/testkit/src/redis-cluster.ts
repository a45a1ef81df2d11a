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
const CLI_BIN = process.env.REDIS_CLI_BIN ?? 'redis-cli';

/** Why a cluster cannot be started here (no redis-server or redis-cli), or undefined when it can. */
export function redisClusterUnavailable(): string | undefined {
  for (const bin of [SERVER_BIN, CLI_BIN]) {
    if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).status !== 0) return `${bin} is not installed (apt-get install redis-server)`;
  }
  return undefined;
}

/**
 * Starts `primaries` redis-server processes in cluster mode on free loopback ports (each in a
 * temporary directory, nothing saved), joins them with `redis-cli --cluster create` (no
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
      const created = spawnSync(CLI_BIN, ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr || created.stdout}`);
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
