/**
 * The Redis of a deployment as infra/redis/ sets it up — redis.conf and the ACL that start.sh
 * makes from users.acl.template — started here from Debian's redis-server on a free loopback
 * port; a small wave runs through every breachwave process logged in as the `breachwave` user,
 * and Redis's own ACL log must show that nothing they sent was refused. Then the ACL is attacked:
 * no login, a wrong password, keys outside the prefix, commands it does not grant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { entryArgs, startSmtpSink, startTwilioServer, waitFor, freePort } from '@breachwave/testkit';
import { ROOT, serviceEnv, spawnService, tempDir, waitForLog, type ServiceProcess } from '../e2e/harness.js';
import { pinEnv } from '../e2e/pin-support.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const found = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).status === 0;
const skip = found ? false : `${REDIS_SERVER} is not installed: the Redis ACL of infra/redis is NOT tested (apt-get install redis-server, or set REDIS_SERVER)`;
if (skip) process.stderr.write(`\n*** ${skip} ***\n\n`);

/** The error a command gets, or undefined when it succeeds. */
async function refusal(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs the real CLI as an operator in the ops container does. */
function cli(args: string[], env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A Redis started by infra/redis/start.sh on a free loopback port, with the ACL it makes in `dir`. */
async function startDeploymentRedis(dir: string, env: Record<string, string>): Promise<{ port: number; log: string[]; process: ReturnType<typeof spawn>; stop: () => Promise<void> }> {
  const port = await freePort();
  const log: string[] = [];
  const redis = spawn('sh', [join(ROOT, 'infra/redis/start.sh'), '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--logfile', ''], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', REDIS_SERVER, BW_REDIS_ACL_FILE: join(dir, 'users.acl'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  redis.stdout.on('data', (b: Buffer) => log.push(b.toString()));
  redis.stderr.on('data', (b: Buffer) => log.push(b.toString()));
  const exited = new Promise<void>((r) => redis.once('close', () => r()));
  const stop = async (): Promise<void> => {
    if (redis.exitCode === null) redis.kill('SIGTERM');
    await exited;
  };
  await waitFor(() => log.join('').includes('Ready to accept connections') || redis.exitCode !== null, { timeout: 30_000, what: 'redis-server ready' });
  if (redis.exitCode !== null) throw new Error(`redis-server did not start:\n${log.join('')}`);
  return { port, log, process: redis, stop };
}

test('infra/redis: with a hash-tag prefix the breachwave user may use every shard\'s tag, and no other tag', { skip, timeout: 60_000 }, async () => {
  const dir = tempDir('redis-acl-tag');
  const password = randomBytes(32).toString('hex');
  const adminPassword = randomBytes(32).toString('hex');
  const redis = await startDeploymentRedis(dir, { BW_REDIS_PASSWORD: password, BW_REDIS_ADMIN_PASSWORD: adminPassword, BW_PREFIX: '{bwt}' });
  const admin = new Redis(`redis://admin:${adminPassword}@127.0.0.1:${redis.port}`);
  try {
    const dryRun = async (...args: string[]): Promise<string> => String(await admin.call('ACL', 'DRYRUN', 'breachwave', ...args));
    for (const key of ['{bwt}:bw-notify:wait', '{bwt:s1}:bw-notify:wait', '{bwt:s15}:ledger:w1']) assert.equal(await dryRun('LLEN', key), 'OK', key);
    for (const key of ['{other}:bw-notify:wait', 'bwt:x', '{bwt}x', '{bwtx:s1}:y']) assert.match(await dryRun('LLEN', key), /no permissions/, key);
  } finally {
    admin.disconnect();
    await redis.stop();
  }
});

test('infra/redis: a wave runs through every process as the breachwave user with nothing refused; no login, other keys and other commands are refused', { skip, timeout: 300_000 }, async () => {
  const dir = tempDir('redis-acl');
  const password = randomBytes(32).toString('hex');
  const adminPassword = randomBytes(32).toString('hex');
  const prefix = `acl${randomBytes(3).toString('hex')}`;
  const { port, stop } = await startDeploymentRedis(dir, { BW_REDIS_PASSWORD: password, BW_REDIS_ADMIN_PASSWORD: adminPassword, BW_PREFIX: prefix });

  const url = `redis://breachwave:${password}@127.0.0.1:${port}`;
  const admin = new Redis(`redis://admin:${adminPassword}@127.0.0.1:${port}`);
  const bw = new Redis(url);
  // Whatever fails, the clients and this test's redis-server are stopped at the end (the last finally).
  try {
    const twilio = await startTwilioServer();
    const smtp = await startSmtpSink();
    const procs: ServiceProcess[] = [];
    try {
      // The settings the ledger's guarantees rest on.
      const settings = await Promise.all(['maxmemory-policy', 'appendonly', 'appendfsync', 'protected-mode'].map(async (k) => (await admin.config('GET', k)) as [string, string]));
      const config = Object.fromEntries(settings);
      assert.deepEqual(config, { 'maxmemory-policy': 'noeviction', appendonly: 'yes', appendfsync: 'everysec', 'protected-mode': 'yes' });
      assert.ok(readdirSync(dir).includes('users.acl'), 'the ACL file was made here');
      assert.ok(!readFileSync(join(dir, 'users.acl'), 'utf8').includes(password), 'the password is not written in clear');
      await admin.acl('LOG', 'RESET');

      // A small wave through every process: the CLI creates it, the feeder process feeds it, the
      // pin-rotator, code-issuer and notifier do its actions, the audit writer writes its trail,
      // the ops-api serves it, and the workers' recovery sweep marks it completed.
      const metricsToken = randomBytes(33).toString('base64url');
      const opsToken = randomBytes(33).toString('base64url');
      const env = {
        ...serviceEnv({ redisUrl: url, prefix, dataDir: dir, twilio, smtp }), ...pinEnv(),
        BW_METRICS_TOKEN: metricsToken, BW_OPS_TOKEN: opsToken, BW_METRICS_CACHE_MS: '0', BW_RECOVERY_INTERVAL_MS: '1000', BW_AUDIT_DIR: join(dir, 'audit'),
      };
      const file = join(dir, 'accounts.csv');
      const rows = ['account_id,segment,phone,email,exposed'];
      for (let i = 0; i < 24; i++) {
        if (i % 3 === 0) rows.push(`P${i},prepaid-active,202555${1200 + i},,name;phone;pin`);
        else if (i % 3 === 1) rows.push(`S${i},postpaid-current,,s${i}@acl.example.com,name;ssn`);
        else rows.push(`F${i},former,202555${1200 + i},f${i}@acl.example.com,name`);
      }
      writeFileSync(file, `${rows.join('\n')}\n`);
      const created = cli(['wave', 'create', '--accounts', file, '--actions', 'rotate-pin,issue-code', '--code-source', 'generated', '--enroll-by', '2030-12-31', '--approvals', '0', '--no-quiet-hours', '--json'], env);
      assert.equal(created.code, 0, created.stderr);
      const { waveId, stats } = JSON.parse(created.stdout) as { waveId: string; stats: { accepted: number } };
      assert.equal(stats.accepted, 24);

      const ports = new Map<string, number>();
      const workers = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer'] as const;
      for (const s of workers) {
        ports.set(s, await freePort());
        procs.push(spawnService(s, { ...env, BW_METRICS_PORT: String(ports.get(s)) }, dir));
      }
      const opsPort = await freePort();
      procs.push(spawnService('ops-api', { ...env, BW_OPS_PORT: String(opsPort) }, dir));
      await Promise.all(procs.map((p, i) => waitForLog(p, i === 4 ? 'ops-api listening' : workers[i] === 'audit-writer' ? 'audit writer started' : `${workers[i]} started`)));
      const feeder = spawnService('feeder', { ...env, BW_METRICS_PORT: String(await freePort()) }, dir, 'feeder', [waveId]);
      assert.equal(await feeder.exited, 0, `the feeder process fed the wave (log: ${feeder.logFile})`);

      await waitFor(async () => (await bw.hget(`${prefix}:wave:${waveId}`, 'status')) === 'completed', { timeout: 180_000, what: 'the wave completed' });
      const status = cli(['wave', 'status', waveId, '--json'], env);
      assert.equal(status.code, 0, status.stderr);
      const progress = JSON.parse(status.stdout) as { actions: Record<string, { done?: number }> };
      assert.equal(progress.actions.notify?.done, 24, 'every notice sent');
      assert.equal(progress.actions['rotate-pin']?.done, 8, 'every exposed prepaid PIN rotated');
      assert.equal(progress.actions['issue-code']?.done, 8, 'every SSN-exposed account given a code');
      assert.equal(twilio.messages.length + smtp.messages.length, 24);
      await waitFor(async () => (await bw.get(`${prefix}:audit:head`)) !== null, { timeout: 30_000, what: 'the audit writer wrote the trail' });

      for (const [s, p] of ports) {
        const text = await (await fetch(`http://127.0.0.1:${p}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
        assert.match(text, /^breachwave_redis_up 1$/m, `${s}: reads Redis at scrape time`);
        assert.equal((await fetch(`http://127.0.0.1:${p}/readyz`)).status, 200, `${s}: ready (its readiness check reads INFO)`);
      }
      const ops = `http://127.0.0.1:${opsPort}`;
      assert.equal((await fetch(`${ops}/readyz`)).status, 200);
      const waves = await fetch(`${ops}/v1/waves`, { headers: { authorization: `Bearer ${opsToken}`, 'x-breachwave-operator': 'acl-test' } });
      assert.equal(waves.status, 200, await waves.clone().text());
      const board = await fetch(`${ops}/queues/view/api/queues?activeQueue=bw-notify&page=1&jobsPerPage=10`, { headers: { authorization: `Bearer ${opsToken}`, 'x-breachwave-operator': 'acl-test' } });
      assert.equal(board.status, 200, 'the queue board reads the queues');

      // Redis logs every command and key it refused to any user; none came from breachwave.
      const denied = (await admin.acl('LOG')) as unknown[];
      assert.deepEqual(denied, [], 'commands or keys the ACL refused during the wave');
    } finally {
      await Promise.all(procs.map((p) => p.kill('SIGTERM')));
      await twilio.close();
      await smtp.close();
    }

    // No login: the default user is off, and a wrong password is refused. (A client of its own,
    // with no ready check and no retry, so each refusal comes back as the command's error.)
    const anonymous = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on('error', () => undefined);
    try {
      assert.match((await refusal(() => anonymous.ping())) ?? 'accepted', /NOAUTH/);
      assert.match((await refusal(() => anonymous.set(`${prefix}:x`, '1'))) ?? 'accepted', /NOAUTH/);
      assert.match((await refusal(() => anonymous.auth('default', ''))) ?? 'accepted', /WRONGPASS|disabled/);
      assert.match((await refusal(() => anonymous.auth('breachwave', '0'.repeat(64)))) ?? 'accepted', /WRONGPASS/);
      assert.match((await refusal(() => anonymous.get(`${prefix}:probe`))) ?? 'accepted', /NOAUTH/, 'still nobody after the failed logins');
    } finally {
      anonymous.disconnect();
    }

    // The breachwave user: keys under its prefix only, directly or from a script; no command it does not need.
    assert.equal(await bw.set(`${prefix}:probe`, '1'), 'OK');
    assert.match((await refusal(() => bw.set('other:probe', '1'))) ?? 'accepted', /NOPERM/);
    assert.match((await refusal(() => bw.get('probe'))) ?? 'accepted', /NOPERM/);
    assert.match((await refusal(() => bw.eval("return redis.call('SET', KEYS[1], '1')", 1, 'other:probe'))) ?? 'accepted', /NOPERM|no permissions/);
    for (const [name, run] of [
      ['FLUSHALL', () => bw.flushall()], ['FLUSHDB', () => bw.flushdb()], ['KEYS', () => bw.keys('*')],
      ['CONFIG SET', () => bw.config('SET', 'maxmemory-policy', 'allkeys-lru')], ['CONFIG GET', () => bw.config('GET', 'requirepass')],
      ['ACL SETUSER', () => bw.acl('SETUSER', 'default', 'on', 'nopass', '+@all')], ['CLIENT LIST', () => bw.client('LIST')],
      ['REPLICAOF', () => bw.call('REPLICAOF', '127.0.0.1', '1')], ['SAVE', () => bw.call('SAVE')], ['SHUTDOWN', () => bw.call('SHUTDOWN', 'NOSAVE')], ['MONITOR', () => bw.call('MONITOR')],
      ['SCRIPT FLUSH', () => bw.script('FLUSH')], ['PUBLISH', () => bw.publish(`${prefix}:c`, 'x')],
      ['from a script: FLUSHALL', () => bw.eval("return redis.call('FLUSHALL')", 0)],
    ] as const) {
      assert.match((await refusal(run)) ?? 'accepted', /NOPERM|no permissions|can't run this command/, `${name} is refused to breachwave`);
    }
    const refused = (await admin.acl('LOG')) as unknown[];
    assert.ok(refused.length >= 5, `the ACL log records refusals (${refused.length}), so an empty log above means none happened`);
    assert.equal(await admin.get(`${prefix}:probe`), '1', 'nothing was flushed');
  } finally {
    bw.disconnect();
    admin.disconnect();
    await stop();
  }
});
