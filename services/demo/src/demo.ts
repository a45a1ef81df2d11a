import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { environment, loadCliConfig, loadConfig, loadConnectionConfig } from '@breachwave/config';
import { DEFAULT_ACTION_RULES } from '@breachwave/domain';
import { createAuditWriter, createCheckpointSigner, publicKeyId, verifyAuditTrail } from '@breachwave/audit';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress, type WaveProgress } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { runNotifier } from '@breachwave/notifier-service';
import { runPinRotator } from '@breachwave/pin-rotator-service';
import { runCodeIssuer } from '@breachwave/code-issuer-service';
import { checkRedis, closeRedis, createRedis, type Redis } from '@breachwave/redis';
import { createEnvelope, generateKey, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { startRedis, startSmtpSink, startTwilioServer } from '@breachwave/testkit';

/** A one-line progress display (the CLI's): `update` redraws it, `done` ends it. */
export interface DemoProgress {
  update(text: string, fraction?: number): void;
  done(text?: string): void;
}

/** What the demo takes from the command that runs it. */
export interface DemoDeps {
  /** A progress display on stderr, labelled. */
  readonly createProgress: (label: string) => DemoProgress;
}

export interface DemoOptions {
  accounts: number;
  pinDelivery?: 'none' | 'sms-temporary';
  json?: boolean;
  keep?: boolean;
}

/** Finds a Redis: REDIS_URL, then a local server on 127.0.0.1:6379, then a container. */
async function findRedis(): Promise<{ url: string; source: string; stop(): Promise<void> }> {
  const given = loadCliConfig().givenRedisUrl;
  if (given) return { url: given, source: 'REDIS_URL', stop: async () => {} };
  const local = 'redis://127.0.0.1:6379';
  const probe = createRedis({ url: local, role: 'producer', extra: { maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null } });
  try {
    await checkRedis(probe, local);
    return { url: local, source: 'local server 127.0.0.1:6379', stop: async () => {} };
  } catch {
    // nothing usable locally: fall through to a container
  } finally {
    probe.disconnect();
  }
  const started = await startRedis();
  return { url: started.url, source: 'container (testcontainers)', stop: () => started.stop() };
}

async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length) n += await redis.unlink(...found);
  } while (cursor !== '0');
  return n;
}

/**
 * `breachwave demo`: a whole wave on loopback with synthetic data. Everything it starts it stops;
 * its Redis keys live under a fresh prefix and are removed afterwards unless `--keep`. It runs the
 * test kit's servers, so it lives apart from the CLI, which loads it only when the command runs and
 * only where development dependencies are installed.
 */
export async function demo(opts: DemoOptions, deps: DemoDeps): Promise<void> {
  const { createProgress } = deps;
  const started = Date.now();
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(2).toString('hex')}`;
  const connection = loadConnectionConfig();
  const runDir = resolve(connection.dataDir, 'demo', runId);
  mkdirSync(runDir, { recursive: true });
  const say = (s: string): void => {
    if (!opts.json) process.stderr.write(`${s}\n`);
  };

  const logFile = join(runDir, 'breachwave.log');
  const { pino } = await import('pino');
  const log = createLogger({ name: 'demo', level: connection.logLevel, destination: pino.destination({ dest: logFile, sync: false, mkdir: true }) });

  const redisInfo = await findRedis();
  say(`redis: ${redisInfo.source}`);
  const twilio = await startTwilioServer();
  const smtp = await startSmtpSink();
  say(`sinks: Twilio-compatible API ${twilio.url}, SMTP 127.0.0.1:${smtp.port}`);

  const prefix = `bwdemo-${runId}`;
  const config = loadConfig(environment({
    REDIS_URL: redisInfo.url,
    BW_PREFIX: prefix,
    // One slot under a prefix of its own: the demo runs unsharded whatever the deployment's BW_SHARDS.
    BW_SHARDS: '1',
    BW_DATA_DIR: runDir,
    // Three services run in this one process: a metrics port set for one of them would clash.
    BW_METRICS_PORT: '0',
    // Throw-away keys: the demo's data is synthetic and its Redis keys are deleted afterwards.
    BW_ENVELOPE_KEY: generateKey(),
    BW_HMAC_KEY: generateKey(),
    BW_PIN_VERIFIER_KEY: generateKey(),
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_BASE_URL: twilio.url,
    TWILIO_FROM: '+15005550006',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
  }));

  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-demo' });
  await checkRedis(redis, config.redisUrl);
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const auditRedis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'worker', name: 'breachwave-demo-audit' });
  const auditDir = join(runDir, 'audit');
  // A throw-away checkpoint key pair: the writer signs with the private half, the verification at
  // the end checks with the public half, as `audit verify --public-key` would.
  const auditKeys = generateKeyPairSync('ed25519');
  const auditSigner = createCheckpointSigner(auditKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const auditWriter = createAuditWriter({ redis: auditRedis, prefix, dir: auditDir, log, signer: auditSigner });
  // Kept so that the files can be verified again afterwards (`audit verify --public-key`).
  const auditPublicKeyFile = join(runDir, 'audit-public-key.pem');
  writeFileSync(auditPublicKeyFile, auditKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  let notifier: Awaited<ReturnType<typeof runNotifier>> | undefined;
  let rotator: Awaited<ReturnType<typeof runPinRotator>> | undefined;
  let issuer: Awaited<ReturnType<typeof runCodeIssuer>> | undefined;
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: config.feed.window, batch: config.feed.batch, accountsPerJob: config.feed.accountsPerJob, minJobs: config.feed.minJobs, log });

  try {
    const file = join(runDir, 'accounts.csv');
    const synth = await writeAccountsFile(file, { rows: opts.accounts, seed: 42 });
    say(`accounts: ${synth.rows} synthetic rows in ${file}`);

    const ingest = createProgress('ingest');
    const wave = await createWave({
      ledger, file, brand: config.brand, helpUrl: config.helpUrl,
      // The seed's remedies: rotate the PINs of exposed prepaid accounts, and give everyone whose
      // SSN or driver's licence leaked an identity-protection code, before telling them.
      rules: { 'rotate-pin': DEFAULT_ACTION_RULES['rotate-pin'], 'issue-code': DEFAULT_ACTION_RULES['issue-code'] },
      pinDelivery: opts.pinDelivery ?? 'none',
      codeSource: { kind: 'generated' },
      enrollBy: new Date(Date.now() + 120 * 86_400_000).toISOString().slice(0, 10),
dataDir: runDir, envelope, log,
      onProgress: (p) => { if (!opts.json) ingest.update(`${p.rows} rows`, p.totalBytes ? p.bytes / p.totalBytes : undefined); },
    });
    ingest.done();
    say(`wave ${wave.waveId}: ${wave.stats.accepted} accepted, ${wave.stats.rejected} rejected`);

    await auditWriter.start();
    notifier = await runNotifier(config, log);
    rotator = await runPinRotator(config, log);
    issuer = await runCodeIssuer(config, log);
    const feeding = feeder.feed(wave.waveId);

    const bar = createProgress('wave');
    let p: WaveProgress = await waveProgress(ledger, wave.waveId);
    for (;;) {
      p = await waveProgress(ledger, wave.waveId);
      if (!opts.json) bar.update(`queued ${p.fed}  PINs ${p.actions['rotate-pin']?.done ?? 0}  codes ${p.actions['issue-code']?.done ?? 0}  sent sms ${p.sent.sms}  email ${p.sent.email}  failed ${p.actions.notify?.failed ?? 0}`, p.accepted ? p.finished / p.accepted : 1);
      if (p.complete) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await feeding;
    bar.done();
    await ledger.setWaveStatus(wave.waveId, 'completed', 'demo', { finished: p.finished });
    await notifier.close();
    notifier = undefined;
    await rotator.close();
    rotator = undefined;
    await issuer.close();
    issuer = undefined;

    // Flush the audit stream to files, then verify the chain.
    for (;;) {
      await auditWriter.drainOnce();
      if ((await redis.xlen(ledger.keys.audit)) === 0) break;
    }
    await auditWriter.close();
    const auditFiles = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).sort().map((f) => join(auditDir, f));
    const verify = await verifyAuditTrail(auditFiles, { publicKeys: new Map([[publicKeyId(auditKeys.publicKey), auditKeys.publicKey]]) });

    const failed = p.actions.notify?.failed ?? 0;
    const summary = {
      waveId: wave.waveId,
      rows: wave.stats.rows,
      accepted: wave.stats.accepted,
      rejected: wave.stats.rejected,
      duplicates: wave.stats.duplicates,
      droppedColumns: wave.droppedColumns,
      sent: { sms: p.sent.sms, email: p.sent.email, total: p.sent.sms + p.sent.email },
      failed,
      skipped: p.actions.notify?.skipped ?? 0,
      pinsRotated: p.actions['rotate-pin']?.done ?? 0,
      pinRotationsFailed: p.actions['rotate-pin']?.failed ?? 0,
      codesIssued: p.actions['issue-code']?.done ?? 0,
      ambiguous: p.ambiguous,
      sinks: { sms: twilio.messages.length, email: smtp.messages.length },
      reconciled: {
        rowsReadEqualsAcceptedPlusRejected: wave.stats.rows === wave.stats.accepted + wave.stats.rejected,
        acceptedEqualsSentPlusFailed: wave.stats.accepted === p.sent.sms + p.sent.email + failed + (p.actions.notify?.skipped ?? 0),
        // Messages, not accounts: a consolidated notice is one message for several accounts.
        sinksMatchLedger: twilio.messages.length === p.messages.sms && smtp.messages.length === p.messages.email,
      },
      audit: {
        ok: verify.ok, records: verify.records, files: auditFiles, keyId: auditSigner.keyId, publicKeyFile: auditPublicKeyFile,
        ...(verify.ok ? { checkpoints: verify.checkpoints ?? 0, checkpointFile: verify.checkpointFile } : { brokenAt: `${verify.file}:${verify.line}`, reason: verify.reason }),
      },
      rejectsReport: wave.rejectsPath,
      accountsFile: file,
      logFile,
      redis: { source: redisInfo.source, prefix, keptKeys: Boolean(opts.keep) },
      durationMs: Date.now() - started,
    };
    const allReconciled = Object.values(summary.reconciled).every(Boolean) && verify.ok;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      process.stdout.write([
        '',
        `demo wave ${summary.waveId} finished in ${(summary.durationMs / 1000).toFixed(1)} s`,
        `  rows read      ${summary.rows}`,
        `  accepted       ${summary.accepted}`,
        `  rejected       ${summary.rejected} (${summary.duplicates} duplicates; report: ${summary.rejectsReport})`,
        `  sent by SMS    ${summary.sent.sms} (Twilio-compatible sink received ${summary.sinks.sms})`,
        `  sent by email  ${summary.sent.email} (SMTP sink received ${summary.sinks.email})`,
        `  failed         ${summary.failed}${summary.skipped ? ` (+${summary.skipped} skipped)` : ''}`,
        `  PINs rotated   ${summary.pinsRotated} (prepaid-active accounts whose PIN was exposed; ${summary.pinRotationsFailed} failed)`,
        `  codes issued   ${summary.codesIssued} (identity protection where SSN or driver's licence was exposed)`,
        `  reconciles     ${allReconciled ? 'yes' : 'NO'}: rows = accepted + rejected, accepted = sent + failed, sinks = ledger`,
        `  audit chain    ${verify.ok ? `verified, ${verify.records} records, ${verify.checkpoints ?? 0} checkpoints signed by ephemeral key ${auditSigner.keyId}` : `BROKEN at ${verify.file}:${verify.line}: ${verify.reason}`}`,
        `  audit files    ${auditFiles.join(' ')}`,
        `  verify again   pnpm breachwave audit verify --public-key ${auditPublicKeyFile} ${auditFiles.join(' ')}`,
        `  logs           ${logFile}`,
        '',
      ].join('\n'));
    }
    if (!allReconciled) process.exitCode = 1;
  } finally {
    await notifier?.close();
    await rotator?.close();
    await issuer?.close();
    await feeder.close();
    await auditWriter.close();
    if (!opts.keep) await deleteByPrefix(redis, prefix);
    await closeRedis(auditRedis);
    await closeRedis(redis);
    await twilio.close();
    await smtp.close();
    await redisInfo.stop();
    log.flush();
  }
}
