/** Helpers shared by this package's tests. Not exported from the package. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { createEnvelope, type Envelope } from '@breachwave/secrets';

/** A temporary directory removed after the test. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bw-feeder-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function testEnvelope(): Envelope {
  return createEnvelope([{ id: 'test', key: randomBytes(32) }]);
}

/** A key prefix no other test uses. */
export function randomPrefix(): string {
  return `bwt-${randomBytes(5).toString('hex')}`;
}

/** A fail-fast client like the `producer` role's. */
export function producerClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 5000 });
}

/** Deletes every key under `prefix` (the test's ledger and queues). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}
