/**
 * The fault drill: one wave with every action on (rotate-pin with a temporary PIN by SMS,
 * issue-code, notify by SMS and email), every service its own process as deployed, and one fault
 * applied again and again while it runs — a worker kind SIGKILLed or SIGTERMed several times,
 * Redis stopped and restarted. The wave must then complete by itself, and the invariants are
 * checked from the ledger, the audit files and the sinks' own records:
 *
 * - I1 every accepted account ends terminal; accepted + rejected = rows read; the wave completes.
 * - I2 one applied PIN rotation per account, the PIN delivered is the PIN stored, and no rotated
 *   PIN without a notice sent or a dead letter that says so.
 * - I3 provider sends per (account, channel) ≤ 1, except after ambiguous outcomes and never more
 *   than their count.
 * - I4 the audit chain verifies; one audit record per finished action.
 * - I5 no phone number, email, name or PIN of the population in clear in Redis, logs, audit
 *   files or the spool.
 *
 * Each drill returns its figures; the fault suites write them where `BW_RELIABILITY_RESULTS`
 * says, and `pnpm reliability` turns them into docs/RELIABILITY.md.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { situationOf } from '@breachwave/actions';
import { auditShardDir, listAuditFiles, publicKeyId, shardPrefixes, verifyAuditTrail } from '@breachwave/audit';
import { loadConfig } from '@breachwave/config';
import { checkShards, createRedis, isClusterUrl } from '@breachwave/redis';
import { DEFAULT_ACTION_RULES } from '@breachwave/domain';
import { createWave } from '@breachwave/feeder';
import { createLedger, type Ledger, type LedgerEntry } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createVaultPinStore } from '@breachwave/pin';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { waitFor, type SmtpSink, type TwilioServer, freePort } from '@breachwave/testkit';
import { dumpRedis, serviceEnv, spawnService, tempDir, waitForLog, type ServiceProcess } from './harness.js';
import { formsIn } from './leak-scan.js';
import { TEMP_PIN, assertNoPinLeaks, pinEnv, pinParts } from './pin-support.js';

/**
 * The drills' own knobs, read once: BW_DRILL_ACCOUNTS (1,000), BW_DRILL_LOCK_MS and
 * BW_DRILL_STALLED_MS (2,000 and 1,000), BW_DRILL_WITHOUT_RECOVERY=1 (the sweep off, to see what
 * it prevents), BW_RELIABILITY_RESULTS (where `pnpm reliability` collects the figures).
 */
export const DRILL = {
  accounts: Number(process.env.BW_DRILL_ACCOUNTS ?? 1000),
  lockMs: process.env.BW_DRILL_LOCK_MS ?? '2000',
  stalledMs: process.env.BW_DRILL_STALLED_MS ?? '1000',
  withoutRecovery: process.env.BW_DRILL_WITHOUT_RECOVERY === '1',
  resultsDir: process.env.BW_RELIABILITY_RESULTS,
} as const;

export type DrillVictim = 'pin-rotator' | 'notifier' | 'code-issuer' | 'audit-writer' | 'feeder' | 'redis';

/** A random drill tag: six lower-case letters. */
export function randomTag(): string {
  return randomBytes(3).toString('hex').replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)] ?? 'g');
}

export interface DrillOptions {
  /** Row in docs/RELIABILITY.md. */
  readonly name: string;
  /** The drill's tag (lower-case letters; its keys' prefix is built from it); random when absent. */
  readonly tag?: string;
  readonly victim: DrillVictim;
  /** Faults applied one after another while the wave runs. */
  readonly faults: number;
  /** SIGKILL (a lost node), SIGTERM (a rolling restart: drain, no stalled job). */
  readonly signal: 'SIGKILL' | 'SIGTERM';
  /** Accounts in the wave (a few more rows are rejected on purpose). */
  readonly accounts: number;
  readonly twilio: TwilioServer;
  readonly smtp: SmtpSink;
  /**
   * The Redis of the drill (not used when the victim is Redis: the drill runs its own). A
   * `redis+cluster://` URL runs the drill on a Redis Cluster, under a hash-tagged prefix.
   */
  readonly redisUrl?: string;
  /** Provider faults injected for the whole wave (labels for the report). */
  readonly providerFaults?: string;
  /** More environment for every service (e.g. a shorter provider timeout). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** How long the wave may take to complete after the last fault (ms). */
  readonly completeWithinMs?: number;
  /**
   * The soak's shape: faults every `spacingMs` instead of at progress points, each on a victim
   * drawn from `victims`, the pace of each channel held at `rate` per second, and Redis memory
   * and every service's RSS sampled once a minute.
   */
  readonly soak?: { readonly spacingMs: number; readonly victims: readonly DrillVictim[]; readonly rate: number };
  /**
   * `BW_SHARDS` for every service (default 1): above 1 the wave's accounts are spread over that
   * many hash tags (needs a cluster URL here, whose prefix is a tag), and the invariants are
   * checked over every shard: its ledger, its audit stream and its own audit chain.
   */
  readonly shards?: number;
}

export interface DrillResult {
  readonly name: string;
  readonly victim: DrillVictim;
  readonly signal: string;
  readonly faults: number;
  readonly providerFaults: string;
  readonly rows: number;
  readonly accepted: number;
  readonly rejected: number;
  /** Accounts not terminal once the wave should have completed. */
  readonly stranded: number;
  /** Accounts with a rotated PIN and neither a notice recorded nor a dead letter. */
  readonly pinUnnotified: number;
  readonly duplicateSms: number;
  readonly duplicateEmail: number;
  /** Ambiguous outcomes counted by the ledger (notify:ambiguous). */
  readonly ambiguous: number;
  /** Actions re-driven by the recovery sweep (`<action>.recovered` audit records). */
  readonly redriven: number;
  readonly deadLetters: number;
  /** From the first fault to the wave's completion. */
  readonly secondsToComplete: number;
  readonly invariants: readonly string[];
  /** The drill's key prefix (every key it and its services wrote starts with it, or with one of its shards' tags). */
  readonly prefix: string;
  /** The audit directory (`BW_AUDIT_DIR`) and the PEM of the public key its checkpoints verify with. */
  readonly audit: { readonly dir: string; readonly publicKeyPem: string };
  /**
   * From the feed's start (the wave entering `feeding`) to the last notice recorded done (its
   * audit record's time), in seconds: the wave's own run, without the processes' start-up.
   */
  readonly waveSeconds: number;
  /** Soak only: one sample a minute. */
  readonly memory?: readonly { readonly minute: number; readonly redisMb: number; readonly rssMb: Readonly<Record<string, number>> }[];
}

/** Resident set size of a process in MB (Linux /proc), 0 when it is gone. */
function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid ?? 0}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

const ACTION_RULES = { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'], 'issue-code': DEFAULT_ACTION_RULES['issue-code'] };

interface Person {
  readonly id: string;
  readonly segment: string;
  readonly name: string;
  readonly phone?: string;
  readonly email?: string;
  readonly exposed: string;
}

/** Drills run in this process so far: each gets its own range of phone numbers, so the sinks' records of one never mix with another's. */
let drillsRun = 0;

/** The population: 40% prepaid with their PIN exposed (SMS), 30% with their SSN exposed (email, a code), 30% former customers (email). */
function population(n: number, tag: string): { people: Person[]; csv: string; rejected: number } {
  const people: Person[] = [];
  const base = 2_000_000 + 100_000 * drillsRun++;
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    // No run of six digits in an id or a name: the PIN scan below would take it for a PIN.
    const id = `D${tag}x${i}`;
    const name = `Drill ${tag}x${i} Person`;
    if (k < 4) people.push({ id, segment: 'prepaid-active', name, phone: `+1312${String(base + i).padStart(7, '0')}`, exposed: 'name;phone;pin' });
    else if (k < 7) people.push({ id, segment: 'postpaid-current', name, email: `d${tag}x${i}@drill.example.com`, exposed: 'name;ssn;dob' });
    else people.push({ id, segment: 'former', name, email: `f${tag}x${i}@drill.example.com`, exposed: 'name;email' });
  }
  const lines = ['account_id,segment,name,phone,email,exposed'];
  for (const p of people) lines.push([p.id, p.segment, p.name, p.phone ?? '', p.email ?? '', p.exposed].join(','));
  // Rows that must be rejected: the invariant accepted + rejected = rows needs some.
  const rejected = Math.max(2, Math.floor(n / 200));
  for (let i = 0; i < rejected; i++) lines.push([`X${tag}${i}`, 'no-such-segment', 'Nobody', '', `x${i}@drill.example.com`, 'name'].join(','));
  return { people, csv: `${lines.join('\n')}\n`, rejected };
}

/** A redis-server of the drill's own, AOF on, that can be stopped and started on the same port and data. */
class OwnRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number, readonly dir: string, readonly fsync: 'everysec' | 'always') {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes',
      '--appendfsync', this.fsync, '--save', '', '--maxmemory-policy', 'noeviction', '--protected-mode', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    await waitFor(async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG' && !/loading:1/.test(await probe.info('persistence'));
      } catch {
        probe.disconnect();
        return false;
      }
    }, { timeout: 20_000, what: 'redis-server up' });
    probe.disconnect();
  }
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill(signal);
    await exited;
  }
}

/** True when this machine can run a redis-server of the drill's own. */
export function canRunOwnRedis(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function allEntries(ledger: Ledger, waveId: string): Promise<Map<string, LedgerEntry>> {
  const out = new Map<string, LedgerEntry>();
  for await (const [id, e] of ledger.entries(waveId)) out.set(id, e);
  return out;
}

const victimAction: Partial<Record<DrillVictim, 'rotate-pin' | 'issue-code' | 'notify'>> = { 'pin-rotator': 'rotate-pin', 'code-issuer': 'issue-code' };

/** Runs one drill and checks I1–I5 (assertions fail the calling test). */
export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  // Letters only: an id or a name must never hold a run of digits a PIN could be mistaken for.
  const tag = o.tag ?? randomTag();
  const dir = tempDir(`drill-${o.victim}`);
  // A SIGKILLed Redis keeps only what reached its AOF: with `everysec` up to a second of
  // acknowledged writes can go, ledger transitions included. The drill that kills it runs with
  // `always`, the setting the ledger's exactly-once guarantees assume through a hard crash.
  const own = o.victim === 'redis' ? new OwnRedis(await freePort(), join(dir, 'redis'), o.signal === 'SIGKILL' ? 'always' : 'everysec') : undefined;
  if (own) {
    mkdirSync(own.dir, { recursive: true });
    await own.start();
  }
  const redisUrl = own?.url ?? o.redisUrl;
  assert.ok(redisUrl, 'a Redis for the drill');
  const cluster = isClusterUrl(redisUrl);
  // On a cluster the drill's own client is the breachwave one (an ioredis Cluster), and the
  // prefix a hash tag, as the configuration requires there.
  const redis = cluster ? createRedis({ url: redisUrl, role: 'worker', name: 'breachwave-drill' }) : new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const shards = o.shards ?? 1;
  const prefix = cluster || shards > 1 ? `{drill${tag}}` : `drill${tag}`;
  const prefixes = shardPrefixes(prefix, shards);
  const { people, csv, rejected } = population(o.accounts, tag);
  const auditKeys = generateKeyPairSync('ed25519');
  const env = {
    ...serviceEnv({ redisUrl, prefix, dataDir: dir, twilio: o.twilio, smtp: o.smtp }),
    ...pinEnv(),
    BW_AUDIT_DIR: join(dir, 'audit'),
    BW_AUDIT_SIGNING_KEY: auditKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    // The drill's timing: a dead worker's jobs re-run after ~3 s instead of ~60 s, and recovery
    // sweeps every second. BW_JOB_ACCOUNTS and maxStalledCount keep their defaults; the wave is
    // cut into jobs of the default 20 accounts.
    BW_LOCK_DURATION_MS: DRILL.lockMs,
    BW_STALLED_INTERVAL_MS: DRILL.stalledMs,
    // BW_DRILL_WITHOUT_RECOVERY=1 shows what the drill does to a deployment without the sweep.
    BW_RECOVERY_INTERVAL_MS: DRILL.withoutRecovery ? '3600000' : '1000',
    BW_FEED_MIN_JOBS: String(Math.max(1, Math.floor(o.accounts / 20))),
    BW_FEED_WINDOW: o.victim === 'feeder' ? '200' : '5000',
    BW_FEED_BATCH: o.victim === 'feeder' ? '40' : '500',
    // The providers here are loopback sinks that answer at once: short send timeouts, so a notice
    // taken over from a killed notifier waits seconds, not the production 30 s, for its send to settle.
    TWILIO_TIMEOUT_MS: '5000',
    SMTP_TIMEOUT_MS: '5000',
    BW_NOTIFY_CONCURRENCY: '20',
    BW_PIN_CONCURRENCY: '10',
    BW_CODE_CONCURRENCY: '10',
    LOG_LEVEL: 'info',
    ...(o.soak ? { BW_SMS_RATE: String(o.soak.rate), BW_EMAIL_RATE: String(o.soak.rate) } : {}),
    ...(shards > 1 ? { BW_SHARDS: String(shards) } : {}),
    ...o.extraEnv,
  };
  const config = loadConfig(env);
  const ledger = createLedger({ redis, prefix, shards });
  // As `wave create` does: the deployment's number of shards is recorded before its first wave.
  await checkShards(redis as Redis, prefix, shards);
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const { keyring } = pinParts(config, redis);
  const vault = createVaultPinStore({ redis, prefix, keyring });
  const file = join(dir, 'accounts.csv');
  writeFileSync(file, csv);
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, rules: ACTION_RULES, pinDelivery: 'sms-temporary',
    codeSource: { kind: 'generated' }, enrollBy: '2028-12-31', dataDir: dir, envelope, log: silentLogger() });
  const waveId = wave.waveId;

  const procs: ServiceProcess[] = [];
  const services = new Map<string, ServiceProcess>();
  const start = (service: string, args: readonly string[] = []): ServiceProcess => {
    const p = spawnService(service, env, dir, `${service}-${procs.length}`, args);
    procs.push(p);
    services.set(service, p);
    return p;
  };
  const progressOf = async (): Promise<number> => {
    // Accounts given a ledger entry: reaches the accepted count once the feed is done (the `fed`
    // stat leaves out the accounts of a replayed batch that workers had already taken).
    if (o.victim === 'feeder') return (await ledger.counts(waveId)).accounts ?? 0;
    const action = victimAction[o.victim];
    const c = await ledger.counts(waveId);
    return action ? c[`${action}:done`] ?? 0 : c['notify:done'] ?? 0;
  };
  let firstFaultAt = 0;
  let faults = 0;
  try {
    for (const s of ['audit-writer', 'pin-rotator', 'code-issuer', 'notifier']) start(s);
    start('feeder', [waveId]);

    // Each fault lands at a random moment once the (re)started victim has made some progress,
    // so jobs it had in flight at one fault are often in flight again at the next: BullMQ then
    // fails them for good ("stalled more than allowable limit"), the case recovery exists for.
    // What progress can reach: the accepted accounts (some rows of the population are rejected),
    // so a fault that comes after a fast feed or wave has finished still finds its target met.
    const accepted = wave.stats.accepted;
    const total = o.victim === 'pin-rotator' ? Math.floor(o.accounts * 0.4) : o.victim === 'code-issuer' ? Math.floor(o.accounts * 0.3) : accepted;
    const memory: { minute: number; redisMb: number; rssMb: Record<string, number> }[] = [];
    const sample = async (): Promise<void> => {
      const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
      memory.push({ minute: memory.length, redisMb: Math.round(used / 1048576), rssMb: Object.fromEntries([...services].map(([name, p]) => [name, rssMb(p.child.pid)])) });
    };
    const sampler = o.soak ? setInterval(() => void sample().catch(() => undefined), 60_000) : undefined;
    if (o.soak) {
      await sample();
      const started = Date.now();
      for (let k = 0; k < o.faults; k++) {
        await new Promise((r) => setTimeout(r, Math.max(0, started + (k + 1) * o.soak!.spacingMs - Date.now())));
        if (!firstFaultAt) firstFaultAt = Date.now();
        const victim = o.soak.victims[Math.floor(Math.random() * o.soak.victims.length)] ?? 'notifier';
        const p = services.get(victim);
        if (p) {
          await p.kill(o.signal);
          start(victim, victim === 'feeder' ? [waveId] : []);
        }
        faults++;
      }
    }
    // After a fault, the next one waits until BullMQ has handed the killed process's jobs out again
    // (lock + stalled check): so the jobs in flight at one fault are in flight at the next.
    const respawnMs = Number(env.BW_LOCK_DURATION_MS) + Number(env.BW_STALLED_INTERVAL_MS);
    let lastFaultAt = 0;
    for (let k = 0; k < (o.soak ? 0 : o.faults); k++) {
      const base = await progressOf();
      const step = Math.max(5, Math.floor((total / (o.faults + 2)) * (0.3 + Math.random() * 0.7)));
      await waitFor(async () => (await progressOf()) >= Math.min(total - 1, base + step), { timeout: 60_000, interval: 50, what: `${o.victim} progress before fault ${k + 1}` });
      if (lastFaultAt) await new Promise((r) => setTimeout(r, Math.max(0, lastFaultAt + respawnMs * (1 + Math.random()) - Date.now())));
      lastFaultAt = Date.now();
      if (!firstFaultAt) firstFaultAt = Date.now();
      if (own) {
        await own.stop(o.signal);
        await own.start();
      } else {
        const victim = services.get(o.victim);
        assert.ok(victim);
        await victim.kill(o.signal);
        if (o.victim === 'feeder') start('feeder', [waveId]);
        else start(o.victim);
      }
      faults++;
    }
    if (!firstFaultAt) firstFaultAt = Date.now();

    // I1: the wave completes by itself (the recovery sweep marks it once every account is terminal).
    let stranded = 0;
    try {
      await waitFor(async () => (await ledger.getWave(waveId)).status === 'completed', { timeout: o.completeWithinMs ?? 90_000, interval: 100, what: 'the wave completes by itself' });
    } catch (err) {
      const rotated: string[] = [];
      for (const [id, e] of await allEntries(ledger, waveId)) {
        if (situationOf(e).kind === 'terminal') continue;
        stranded++;
        if (e['rotate-pin']?.s === 'done') rotated.push(id);
      }
      throw new Error(`${o.name}: ${stranded} accounts stranded, ${rotated.length} of them with a rotated PIN; ${(err as Error).message}`);
    }
    const secondsToComplete = (Date.now() - firstFaultAt) / 1000;
    if (sampler) {
      clearInterval(sampler);
      await sample();
    }
    // Stop the workers, let the (last started) audit writer drain the stream — it deletes what it
    // has written, so an empty stream is a drained one — and stop it last: its shutdown
    // checkpoint covers the records a killed predecessor wrote after its own last checkpoint.
    const writer = services.get('audit-writer');
    assert.ok(writer);
    await waitForLog(writer, 'audit writer ready');
    await Promise.all([...services].filter(([name]) => name !== 'audit-writer').map(([, p]) => p.kill('SIGTERM')));
    await waitFor(async () => (await Promise.all(prefixes.map((p) => redis.xlen(`${p}:audit`)))).every((n) => n === 0), { timeout: 60_000, interval: 100, what: 'the audit writer drained every stream' });
    await writer.kill('SIGTERM');

    // I1
    const entries = await allEntries(ledger, waveId);
    const waveInfo = await ledger.getWave(waveId);
    assert.equal((waveInfo.stats.accepted ?? 0) + (waveInfo.stats.rejected ?? 0), waveInfo.stats.rows, 'I1: accepted + rejected = rows read');
    assert.equal(waveInfo.stats.accepted, people.length, 'I1: every valid row accepted');
    assert.equal(waveInfo.stats.rejected, rejected);
    assert.equal(entries.size, people.length, 'I1: every accepted account is in the ledger');
    for (const [id, e] of entries) assert.equal(situationOf(e).kind, 'terminal', `I1: ${id} is terminal`);

    // I2
    // Every service is stopped: the vault no longer changes, so each prepaid account's record is
    // read once, all of them together.
    const prepaid = people.filter((p) => p.segment === 'prepaid-active');
    const vaultRecords = new Map(await Promise.all(prepaid.map(async (p) => [p.id, await vault.read(p.id)] as const)));
    // The first SMS each number was sent.
    const firstText = new Map<string, string>();
    for (const m of o.twilio.messages) if (!firstText.has(m.to)) firstText.set(m.to, m.body);
    const pins: string[] = [];
    let pinUnnotified = 0;
    let deadLetters = 0;
    for (const p of people) {
      const e = entries.get(p.id) ?? {};
      for (const a of ['rotate-pin', 'issue-code', 'notify'] as const) if (e[a]?.s === 'failed') deadLetters++;
      if (p.segment !== 'prepaid-active') continue;
      const record = vaultRecords.get(p.id);
      const applied = record?.applied ?? 0;
      if (e['rotate-pin']?.s === 'done') {
        assert.equal(applied, 1, `I2: ${p.id} has exactly one applied rotation`);
        if (e.notify?.s !== 'done' && e.notify?.s !== 'failed') pinUnnotified++;
        const pin = TEMP_PIN.exec((p.phone === undefined ? undefined : firstText.get(p.phone)) ?? '')?.[1];
        if (e.notify?.s === 'done') {
          assert.ok(pin, `I2: ${p.id}'s notice carries its temporary PIN`);
          assert.equal(record?.verifier, keyring.compute(p.id, pin), `I2: ${p.id} was sent the PIN that was stored`);
          pins.push(pin);
        }
      } else {
        assert.ok(applied <= 1, `I2: ${p.id} rotated at most once`);
      }
    }
    assert.equal(pinUnnotified, 0, 'I2: no rotated PIN without a notice sent or a dead letter');

    // I3
    const counts = await ledger.counts(waveId);
    const ambiguous = counts['notify:ambiguous'] ?? 0;
    const got = new Map<string, number>();
    for (const m of o.twilio.messages) got.set(m.to, (got.get(m.to) ?? 0) + 1);
    for (const m of [...o.smtp.messages, ...o.smtp.unacknowledged]) for (const to of m.envelope.to) got.set(to, (got.get(to) ?? 0) + 1);
    let duplicateSms = 0;
    let duplicateEmail = 0;
    for (const p of people) {
      const to = p.phone ?? p.email ?? '';
      const n = got.get(to) ?? 0;
      if (entries.get(p.id)?.notify?.s === 'done') assert.ok(n >= 1, `I3: ${p.id} was notified`);
      if (n > 1) {
        if (p.phone) duplicateSms += n - 1;
        else duplicateEmail += n - 1;
      }
    }
    assert.equal(duplicateSms, 0, 'I3: no SMS sent twice (ambiguous ones are reconciled with the provider)');
    assert.ok(duplicateEmail <= ambiguous, `I3: ${duplicateEmail} duplicate emails ≤ ${ambiguous} ambiguous outcomes`);

    // I4
    // One chain per shard, each in its own directory, each verified on its own.
    const auditFiles: string[] = [];
    for (let s = 0; s < shards; s++) {
      const chain = await listAuditFiles(auditShardDir(join(dir, 'audit'), s));
      assert.ok(chain.length > 0, `I4: shard ${s} wrote its audit chain`);
      // The chain and its signed checkpoints: the writer was stopped cleanly at the end, so every
      // record is covered by a checkpoint, kills of the writer included.
      const verified = await verifyAuditTrail(chain, { publicKeys: new Map([[publicKeyId(auditKeys.publicKey), auditKeys.publicKey]]) });
      assert.equal(verified.ok, true, `I4: the audit chain of shard ${s} and its signed checkpoints verify (${verified.ok ? '' : `${verified.file}:${verified.line} ${verified.reason}`})`);
      auditFiles.push(...chain);
    }
    const auditText = auditFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    const doneRecords = new Map<string, number>();
    let redriven = 0;
    let lastNoticeAt = 0;
    for (const line of auditText.split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as { type: string; account?: string; wave?: string; ts?: string };
      if (r.wave !== waveId) continue;
      if (r.type === 'notify.done' && r.ts) lastNoticeAt = Math.max(lastNoticeAt, Date.parse(r.ts));
      if (r.type.endsWith('.recovered')) redriven++;
      if (r.type.endsWith('.done') && r.account) doneRecords.set(`${r.type}:${r.account}`, (doneRecords.get(`${r.type}:${r.account}`) ?? 0) + 1);
    }
    for (const [id, e] of entries) {
      for (const a of ['rotate-pin', 'issue-code', 'notify'] as const) {
        if (e[a]?.s === 'done') assert.equal(doneRecords.get(`${a}.done:${id}`), 1, `I4: one ${a}.done record for ${id}`);
      }
    }

    // I5
    const logs = procs.map((p) => readFileSync(p.logFile, 'utf8')).join('\n');
    const spool = readDirText(dir);
    const dump = (await Promise.all(prefixes.map((p) => dumpRedis(redis, p)))).join('\n');
    const formsOf = (p: Person): string[] => [p.phone, p.phone?.replace(/^\+1/, ''), p.email, p.name].filter((f): f is string => Boolean(f));
    // Each text walked once for every form of the population (what `includes` finds, formsIn finds).
    const allForms = people.flatMap(formsOf);
    const inDump = formsIn(dump, allForms);
    const inLogs = formsIn(logs, allForms);
    const inAudit = formsIn(auditText, allForms);
    const inSpool = formsIn(spool, allForms);
    for (const p of people) {
      for (const form of formsOf(p)) {
        assert.ok(!inDump.has(form), `I5: ${p.id}'s contact data is not in Redis in clear`);
        assert.ok(!inLogs.has(form), `I5: ${p.id}'s contact data is not in the logs`);
        assert.ok(!inAudit.has(form), `I5: ${p.id}'s contact data is not in the audit files`);
        assert.ok(!inSpool.has(form), `I5: ${p.id}'s contact data is not in the spool or reports`);
      }
    }
    // Hashes, stream ids and signatures are long runs of digits and letters: a six-digit run
    // inside one is not a PIN, so they are taken out before the scan.
    // So are the times and delays BullMQ and the audit keep as numbers ("delay":"123456").
    const tokenless = (text: string): string => text.replace(/[A-Za-z0-9+/=_-]{24,}/g, ' ')
      .replace(/"(delay|delayMs|timestamp|processedOn|finishedOn|at|c0|ats|atm)"\s*:\s*"?\d+"?/g, ' ');
    assertNoPinLeaks(pins, { redis: tokenless(dump), logs: tokenless(logs), audit: tokenless(auditText), spool: tokenless(spool) });

    return {
      name: o.name, victim: o.victim, signal: o.signal, faults, providerFaults: o.providerFaults ?? 'none',
      rows: waveInfo.stats.rows ?? 0, accepted: waveInfo.stats.accepted ?? 0, rejected: waveInfo.stats.rejected ?? 0,
      stranded, pinUnnotified, duplicateSms, duplicateEmail, ambiguous, redriven, deadLetters, prefix,
      audit: { dir: join(dir, 'audit'), publicKeyPem: auditKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
      waveSeconds: Math.round((lastNoticeAt - Date.parse(waveInfo.times.feeding?.first ?? new Date(lastNoticeAt).toISOString())) / 100) / 10,
      secondsToComplete: Math.round(secondsToComplete * 10) / 10,
      invariants: ['I1', 'I2', 'I3', 'I4', 'I5'],
      ...(o.soak ? { memory } : {}),
    };
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    redis.disconnect();
    await own?.stop('SIGKILL');
  }
}

/** Every text file the drill's data directory holds, except the audit files and process logs (checked apart). */
function readDirText(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, name.name);
      if (name.isDirectory()) {
        if (name.name !== 'audit' && name.name !== 'redis') walk(p);
      } else if (!name.name.endsWith('.log') && name.name !== 'accounts.csv') {
        out.push(readFileSync(p, 'utf8'));
      }
    }
  };
  walk(dir);
  return out.join('\n');
}

/** Writes a drill's figures where `BW_RELIABILITY_RESULTS` says (one JSON file per drill), if set. */
export function recordDrill(result: DrillResult): void {
  process.stdout.write(`# drill ${result.name}: stranded ${result.stranded}, rotated-unnotified ${result.pinUnnotified}, re-driven ${result.redriven}, dead letters ${result.deadLetters}, duplicate SMS ${result.duplicateSms}, duplicate email ${result.duplicateEmail}, ambiguous ${result.ambiguous}, ${result.secondsToComplete} s to complete\n`);
  const out = DRILL.resultsDir;
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${result.name.replace(/[^A-Za-z0-9]+/g, '-')}.json`), `${JSON.stringify({ ...result, at: new Date().toISOString() }, null, 2)}\n`);
}
