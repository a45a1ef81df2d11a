import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DRILL, canRunOwnRedis, recordDrill, runDrill } from './drill.js';
import { useWorld } from './harness.js';

const world = useWorld({ twilio: { latencyMs: 5 } });
const ACCOUNTS = DRILL.accounts;
// These drills stop and start a redis-server of their own (AOF on), so they need the binary.
const skip = canRunOwnRedis() ? false : 'redis-server is not installed: the Redis restart drills need it (apt-get install redis-server)';

test('Redis shut down and restarted twice mid-wave (SHUTDOWN, AOF everysec): nobody stranded, no notice sent twice', { timeout: 240_000, skip }, async () => {
  const r = await runDrill({ name: 'Redis SIGTERM x2 (AOF everysec)', victim: 'redis', faults: 2, signal: 'SIGTERM', accounts: ACCOUNTS, twilio: world.twilio, smtp: world.smtp });
  assert.equal(r.stranded, 0);
  assert.equal(r.duplicateEmail + r.duplicateSms, 0, 'a send the provider accepted is recorded once Redis is back, not sent again');
  recordDrill(r);
});

test('Redis SIGKILLed and restarted twice mid-wave (AOF always): nobody stranded, duplicates only where an outcome was ambiguous', { timeout: 240_000, skip }, async () => {
  const r = await runDrill({ name: 'Redis SIGKILL x2 (AOF always)', victim: 'redis', faults: 2, signal: 'SIGKILL', accounts: ACCOUNTS, twilio: world.twilio, smtp: world.smtp });
  assert.equal(r.stranded, 0);
  recordDrill(r);
});
